//! Agent backends: the code that runs one call of an agent and returns its output.

pub mod sh;
