//! Test ids shared by the UI and the Playwright suite (`end2end/tests/ids.ts`
//! mirrors these values). Change both together.

pub const HOME_HEADING: &str = "home-heading";
pub const SIGNIN_STATUS: &str = "signin-status";
pub const SIGNIN_LINK: &str = "signin-link";
pub const SIGNED_IN_AS: &str = "signed-in-as";
pub const SIGNOUT_BUTTON: &str = "signout-button";
pub const SERVER_INFO: &str = "server-info";
pub const SERVER_INFO_REFRESH: &str = "server-info-refresh";
pub const SERVER_INFO_ERROR: &str = "server-info-error";
pub const NOT_FOUND: &str = "not-found";
pub const ERROR_PANEL: &str = "error-panel";
pub const SIGNIN_REQUIRED: &str = "signin-required";
pub const ERROR_MESSAGE: &str = "error-message";
pub const GREETING: &str = "greeting";
pub const HOME_SIGNIN: &str = "home-signin";
pub const ID_CLAIMS: &str = "id-claims";
pub const USERINFO: &str = "userinfo";
pub const USERINFO_REFRESH: &str = "userinfo-refresh";
pub const DISPLAY_NAME: &str = "display-name";
pub const PROVIDER_PROFILE_LINK: &str = "provider-profile-link";
pub const ONBOARDING_FORM: &str = "onboarding-form";
pub const ONBOARDING_NAME: &str = "onboarding-name";
pub const ONBOARDING_SUBMIT: &str = "onboarding-submit";
