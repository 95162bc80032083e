//! What the browser bundle and the server must agree on, in one place and
//! compiled for both: the rules for what users type (emails, name parts,
//! display names), an identity's state, the notices shown after an admin
//! action, the app's page paths, and the test ids the Playwright suite finds
//! elements by. No I/O and no framework: `app` (server and WASM builds) and
//! `bff` both depend on it, so neither pastes a copy of the other's rules.

pub mod display_name;
pub mod forms;
pub mod identity;
pub mod ids;
pub mod notice;
pub mod paths;
