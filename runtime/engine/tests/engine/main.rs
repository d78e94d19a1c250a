//! The engine on its own: pure, fast, with a simulated clock. Every test also checks
//! (inside `Sim::feed`) that replaying the history rebuilds the same state.

mod control;
mod failures;
mod flow;
mod items;
mod loops;
mod modify;
mod recovery;
mod replan;
mod retry;
mod sim;
