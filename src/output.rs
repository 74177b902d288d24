//! Writing outputs without ever damaging what the path names.
//!
//! - A regular file (or a path that does not exist yet) is written to a
//!   temporary file in the same directory and renamed into place, so an
//!   interrupted command never leaves a half-written file under the final name.
//! - A symbolic link is followed: the file it points to is written (the same
//!   way), the link itself stays a link.
//! - Anything else that exists (a FIFO, a terminal, `/dev/null`, a device) is
//!   written straight into: renaming over it would replace the special file
//!   with a regular one.
//! - `-` is standard output.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where an output named by a path goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `-`: standard output.
    Stdout,
    /// A regular file or a new one (symbolic links resolved): temporary file
    /// and rename.
    File(PathBuf),
    /// An existing non-regular file (FIFO, device, ...): written in place.
    Special(PathBuf),
}

impl Target {
    /// Classify `path`, following symbolic links.
    pub fn of(path: &Path) -> io::Result<Target> {
        if path.as_os_str() == "-" {
            return Ok(Target::Stdout);
        }
        let resolved = resolve_links(path)?;
        match fs::metadata(&resolved) {
            Ok(m) if m.is_file() => Ok(Target::File(resolved)),
            Ok(m) if m.is_dir() => Err(io::Error::other("is a directory, not a file")),
            Ok(_) => Ok(Target::Special(resolved)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Target::File(resolved)),
            Err(e) => Err(e),
        }
    }

    /// The regular file written, if the output is one (it can be read back).
    pub fn regular_file(&self) -> Option<&Path> {
        match self {
            Target::File(p) => Some(p),
            _ => None,
        }
    }
}

/// The path a chain of symbolic links ends at (the last may dangle: a new
/// file is then created where it points).
fn resolve_links(path: &Path) -> io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

/// The temporary name used while `path` (a regular file) is being written:
/// unique per process and call, in the same directory.
pub fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

fn create_parent(path: &Path) -> io::Result<()> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => fs::create_dir_all(dir),
        None => Ok(()),
    }
}

/// Open an existing special file for writing, without creating or truncating.
fn open_special(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new().write(true).open(path)
}

/// Write `bytes` to `path`: atomically if it is (or will be) a regular file,
/// straight into a FIFO or device, to standard output for `-`. Parent
/// directories of a new file are created.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    match Target::of(path)? {
        Target::Stdout => {
            let mut out = io::stdout().lock();
            out.write_all(bytes).and_then(|_| out.flush())
        }
        Target::Special(p) => open_special(&p)?.write_all(bytes),
        Target::File(p) => {
            create_parent(&p)?;
            let tmp = temp_path(&p);
            let result = (|| {
                let mut f = fs::File::create(&tmp)?;
                f.write_all(bytes)?;
                f.sync_all()?;
                fs::rename(&tmp, &p)
            })();
            if result.is_err() {
                let _ = fs::remove_file(&tmp);
            }
            result
        }
    }
}

/// Put a finished temporary file `tmp` (written beside [`real_path`]) in
/// place of `path`: renamed over a regular file, copied into a special file
/// or standard output (and then removed).
pub fn place(tmp: &Path, path: &Path) -> io::Result<()> {
    let result = match Target::of(path) {
        Ok(Target::File(p)) => fs::rename(tmp, &p),
        Ok(_) => fs::read(tmp).and_then(|bytes| write_atomic(path, &bytes)),
        Err(e) => Err(e),
    };
    let _ = fs::remove_file(tmp);
    result
}

/// The path whose directory should hold `path`'s temporary file: the regular
/// file a symbolic link points to (so the rename stays on one file system),
/// or `path` itself. Its parent directory is created.
pub fn real_path(path: &Path) -> io::Result<PathBuf> {
    let real = match Target::of(path)? {
        Target::File(p) => p,
        _ => std::env::temp_dir().join(path.file_name().unwrap_or_default()),
    };
    create_parent(&real)?;
    Ok(real)
}

/// An output being written: a regular file under a temporary name until
/// [`OutputFile::commit`] renames it, or a special file / standard output
/// written directly.
pub struct OutputFile {
    target: Target,
    tmp: Option<PathBuf>,
}

impl OutputFile {
    /// Open `path` for writing; the writer goes to the temporary file, the
    /// special file or standard output.
    pub fn create(path: &Path) -> io::Result<(OutputFile, Box<dyn Write + Send>)> {
        let target = Target::of(path)?;
        let (tmp, writer): (Option<PathBuf>, Box<dyn Write + Send>) = match &target {
            Target::Stdout => (None, Box::new(io::stdout())),
            Target::Special(p) => (None, Box::new(open_special(p)?)),
            Target::File(p) => {
                create_parent(p)?;
                let tmp = temp_path(p);
                let f = fs::File::create(&tmp)?;
                (Some(tmp), Box::new(f))
            }
        };
        Ok((OutputFile { target, tmp }, writer))
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The writing is complete: rename a regular file into place.
    pub fn commit(self) -> io::Result<()> {
        match (&self.tmp, &self.target) {
            (Some(tmp), Target::File(p)) => fs::rename(tmp, p),
            _ => Ok(()),
        }
    }

    /// The writing failed: remove the temporary file (a special file keeps
    /// what was written).
    pub fn abandon(self) {
        if let Some(tmp) = &self.tmp {
            let _ = fs::remove_file(tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/out.json");
        write_atomic(&p, b"{}").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"{}");
        let names: Vec<_> = fs::read_dir(p.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn symbolic_links_are_followed_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        let link = dir.path().join("link.json");
        fs::write(&real, b"old").unwrap();
        std::os::unix::fs::symlink("real.json", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(fs::read(&real).unwrap(), b"new");
        // A dangling link creates the file it points to.
        let dangling = dir.path().join("dangling.json");
        std::os::unix::fs::symlink("made.json", &dangling).unwrap();
        let (f, mut w) = OutputFile::create(&dangling).unwrap();
        w.write_all(b"made").unwrap();
        drop(w);
        f.commit().unwrap();
        assert_eq!(fs::read(dir.path().join("made.json")).unwrap(), b"made");
        assert!(fs::symlink_metadata(&dangling).unwrap().file_type().is_symlink());
    }

    #[cfg(unix)]
    #[test]
    fn devices_are_written_in_place_not_replaced() {
        assert_eq!(Target::of(Path::new("/dev/null")).unwrap(), Target::Special("/dev/null".into()));
        write_atomic(Path::new("/dev/null"), b"x").unwrap();
        assert!(!fs::metadata("/dev/null").unwrap().is_file());
        assert_eq!(Target::of(Path::new("-")).unwrap(), Target::Stdout);
        assert!(Target::of(Path::new("/")).is_err());
    }
}
