//! The process's C allocator, set up for a sync's memory profile.
//!
//! Message bodies are allocated in the plugins (which share the process's `malloc`) by the
//! folder threads and freed a batch later. glibc gives each thread that meets contention
//! an arena of its own and keeps what is freed in each arena for reuse, so with three
//! folders in flight each arena holds its own high-water mark of bodies plus its
//! fragmentation: measured on an initial sync of 10,000 messages (1.1 GB), 40 MiB peak RSS
//! with the default arenas against 33 MiB with one arena, the bodies in flight being the
//! same 8 MiB. Returning freed memory to the kernel instead (a fixed `M_MMAP_THRESHOLD`,
//! `malloc_trim` after each batch) lowers the peak a little more but faults every body's
//! pages in anew: ten times the page faults, which cost more system time than the memory
//! is worth.

/// One malloc arena for the whole process, unless the user chose the allocator's settings
/// (`MALLOC_ARENA_MAX` or `GLIBC_TUNABLES` in the environment). Call it first thing in
/// `main`, before any thread starts: arenas are created on first contention.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let chosen = ["MALLOC_ARENA_MAX", "GLIBC_TUNABLES"]
            .iter()
            .any(|name| std::env::var_os(name).is_some());
        if !chosen {
            // SAFETY: mallopt only changes a parameter of the allocator; no thread of ours
            // allocates concurrently this early, and glibc locks its state anyway. A refusal
            // (return 0) leaves the default, which is merely larger.
            unsafe {
                libc::mallopt(libc::M_ARENA_MAX, 1);
            }
        }
    }
}
