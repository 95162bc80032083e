//! Server functions, grouped by area. Each is thin: check who is calling, call a
//! server-side service, map the result to a wire type.

pub mod session;
pub mod system;
