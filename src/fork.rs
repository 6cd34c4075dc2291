//! Knowing that this process is a forked child, without a system call per check.
//!
//! A client built before `fork()` must not, in the child, reuse the parent's pooled sockets, the
//! parent's Redis connections, or the parent's random-number state (the children of a pre-fork
//! server would then send the same `random`s). Asking `getpid()` on every request costs a system
//! call each time; instead a `pthread_atfork` handler counts the forks, and a check is one atomic
//! load. Where the handler cannot be registered, the count falls back to the process id.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Forks seen by this process and its ancestors since the handler was registered.
static FORKS: AtomicU64 = AtomicU64::new(0);

/// Whether the handler is in place (registered on first use; else [`generation`] asks for the
/// process id).
static WATCHED: LazyLock<bool> = LazyLock::new(|| {
    #[cfg(unix)]
    {
        // SAFETY: registers a handler that only bumps an atomic; glibc drops it if this library
        // is ever unloaded.
        unsafe { libc::pthread_atfork(None, None, Some(in_child)) == 0 }
    }
    #[cfg(not(unix))]
    true // no fork() here
});

#[cfg(unix)]
extern "C" fn in_child() {
    // Async-signal-safe: one atomic add, nothing else.
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// A value that differs between a process and any child it forks after this function was first
/// called (in the child: a parent's value never comes back). Cheap: one atomic load.
pub(crate) fn generation() -> u64 {
    if *WATCHED {
        FORKS.load(Ordering::Relaxed)
    } else {
        // The high bit keeps the two kinds of value apart.
        (1 << 63) | u64::from(std::process::id())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_forked_child_sees_another_generation_and_the_parent_the_same() {
        let before = generation();
        // SAFETY: the child only reads an atomic and calls _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let code = if generation() != before { 0 } else { 1 };
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "the child saw the parent's generation");
        assert_eq!(generation(), before, "the parent's is unchanged");
    }
}
