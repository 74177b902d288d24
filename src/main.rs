//! The `dupsim` binary: parse flags, run one command, exit with its code.

fn main() {
    std::process::exit(dupsim::cli::main());
}
