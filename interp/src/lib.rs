//! The reference AVM interpreter (see the crate README and the issue tracker).
