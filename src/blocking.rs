//! The blocking hint: a thread about to wait on another service says so to whoever runs it
//! (the HTTP/2 stream queue, `server/work/`), so that work queued behind it need not wait.
//!
//! Why a thread-local: the client that blocks sits below the server in the module order and
//! must not know it; the queue installs a hint on each of its threads, the clients call
//! [`blocking`] around every outbound call, and a thread without a hint pays one TLS lookup.

use std::cell::RefCell;

type Hint = Box<dyn Fn(bool)>;

thread_local! {
    static HINT: RefCell<Option<Hint>> = const { RefCell::new(None) };
}

/// Installs this thread's hint: called with `true` before a blocking call, `false` after.
pub(crate) fn install(hint: impl Fn(bool) + 'static) {
    HINT.with(|h| *h.borrow_mut() = Some(Box::new(hint)));
}

/// Runs `f`, which waits on the network, with the thread's hint told before and after (also
/// when `f` panics).
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    struct After;
    impl Drop for After {
        fn drop(&mut self) {
            tell(false);
        }
    }
    if !tell(true) {
        return f();
    }
    let _after = After;
    f()
}

/// Tells the hint, if this thread has one; whether it has.
fn tell(blocking: bool) -> bool {
    HINT.with(|h| h.borrow().as_ref().map(|hint| hint(blocking)).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    #[test]
    fn the_hint_hears_before_and_after_even_on_panic_and_only_on_its_thread() {
        let seen = Rc::new(Cell::new((0, 0)));
        let s = seen.clone();
        assert_eq!(blocking(|| 1), 1, "no hint: the call just runs");
        install(move |b| {
            let (on, off) = s.get();
            s.set(if b { (on + 1, off) } else { (on, off + 1) });
        });
        assert_eq!(blocking(|| 2), 2);
        assert_eq!(seen.get(), (1, 1));
        let _ = std::panic::catch_unwind(|| blocking(|| panic!("outbound call panicked")));
        assert_eq!(seen.get(), (2, 2));
        std::thread::spawn(|| blocking(|| ())).join().unwrap();
        assert_eq!(seen.get(), (2, 2), "another thread has no hint");
    }
}
