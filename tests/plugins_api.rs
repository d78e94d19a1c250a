//! (written next)

mod support;
