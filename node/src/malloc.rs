//! Allocator settings for a serving node.

/// Makes glibc malloc use one arena for the whole process; call before any thread starts.
///
/// Image bytes travel in 256 KiB–4 MiB buffers that one thread allocates and another frees.
/// With glibc's default of one arena per thread, each arena keeps the blocks freed into it,
/// so RSS grew by about 70 MiB during an upload that followed a download; with one arena the
/// same sequence peaked at about 33 MiB over idle, at the same upload throughput (the
/// buffers are few and large, so the shared arena lock is rarely contended).
pub fn one_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
