//! A cache hint: start loading the line that holds a value before the code
//! that needs it, so that two cache misses of one event overlap instead of
//! following each other (issue 17). It changes no result: a prefetch never
//! faults and never writes, whatever the address.

/// Ask the cache for the line holding `*p`. A no-op off x86-64.
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is a hint: it neither reads into a register nor
    // faults on any address, valid or not.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
