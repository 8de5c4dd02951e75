//! The cell used by the std and shuttle builds (loom brings its own).

/// A zero-cost `UnsafeCell` with loom's closure-based access API, so the pool
/// names every non-atomic shared access in a way loom can race-check.
#[derive(Debug)]
#[repr(transparent)]
pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(core::cell::UnsafeCell::new(value))
    }

    /// Reads through a shared pointer; the caller's SAFETY comment says why
    /// no write races with it.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Writes through an exclusive pointer; the caller's SAFETY comment says
    /// why no other access races with it.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }

    /// Unwraps the value (loom's cell has the same method).
    pub(crate) fn into_inner(self) -> T {
        self.0.into_inner()
    }
}
