//! Stores that hold whole images (Glance's store drivers), as the domain sees them.

pub mod driver;
