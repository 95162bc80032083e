//! Helpers shared by the integration tests: start the real server on a free port.
#![allow(dead_code, unreachable_pub)]

use server::config::Settings;
use server::startup::Application;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
}

pub async fn spawn_app() -> TestApp {
    let settings = Settings::for_addr("127.0.0.1:0".parse().expect("loopback address"));
    let app = Application::build(settings).await.expect("server starts");
    let base = format!("http://{}", app.addr());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("http client");
    TestApp { base, client }
}
