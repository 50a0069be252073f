//! The inspector's page in a real browser: headless Chromium driven over WebDriver
//! (chromedriver, started here on a free port). Signed, tampered, stale, duplicate and hostile
//! deliveries are posted while the page is open: the rows appear live with the right outcomes,
//! the detail shows the skew and the duplicate link, replay adds a row, and a hostile body is
//! shown as text.
//!
//! `INSPECTOR_SCREENSHOT=PATH` saves a PNG of the list page there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod inspect_common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use inspect_common::{Listen, envelope, now, signed, signed_at};
use serde_json::json;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// Markup in the event's type (shown in the list) and in its data (shown in the detail).
const HOSTILE_TYPE: &str = "<img src=x onerror=\"window.__pwned='img'\">";
const HOSTILE_NOTE: &str =
    "<script>window.__pwned='script'</script><img src=x onerror=\"window.__pwned='data'\">";

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn start() -> Self {
        for binary in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: these tests need Debian's chromium and chromium-driver (`apt-get install -y chromium chromium-driver`; .ci/run installs them)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        // Ready when it accepts a connection (it is up within a second or two).
        let mut up = false;
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                up = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(up, "chromedriver did not open port {port}");
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn browser(&self) -> Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,900"],
            }),
        );
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("cannot open a Chromium session: {e}"))
    }
}

async fn js(browser: &Client, script: &str) -> serde_json::Value {
    browser.execute(script, Vec::new()).await.unwrap()
}

async fn wait_for(browser: &Client, css: &str) -> fantoccini::elements::Element {
    browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
}

async fn text(browser: &Client, css: &str) -> String {
    wait_for(browser, css).await.text().await.unwrap()
}

/// The list's rows as `(seq, outcome)`, top to bottom.
async fn rows(browser: &Client) -> Vec<(u64, String)> {
    let rows = js(
        browser,
        "return Array.from(document.querySelectorAll('#requests tbody tr'), r => [Number(r.dataset.seq), r.cells[4].textContent]);",
    )
    .await;
    serde_json::from_value(rows).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver (installed by .ci/run)"]
async fn the_page_shows_deliveries_live_and_replays_them() {
    let driver = Driver::start();
    let mut listen = Listen::start(&[]);
    let browser = driver.browser().await;
    browser.goto(&listen.inspector).await.unwrap();
    wait_for(&browser, "#live.on").await;
    assert_eq!(
        text(&browser, "#empty").await,
        format!("No request yet: POST a webhook to {}.", listen.url)
    );
    // Gone if the page reloads.
    js(&browser, "window.__sameDocument = true; return null;").await;

    // 1 signed, 2 tampered, 3 stale, 4 a duplicate of 1, 5 hostile.
    let body = envelope("evt_browser");
    let headers = signed("msg_browser_1", body.as_bytes());
    assert_eq!(listen.post(&headers, body.clone()).await, 200);
    let tampered = body.replace("\"success\":true", "\"success\":false");
    assert_eq!(listen.post(&headers, tampered).await, 401);
    let stale_at = now() - 1000;
    let stale = envelope("evt_browser_stale");
    let stale_headers = signed_at("msg_browser_3", stale_at, stale.as_bytes());
    assert_eq!(listen.post(&stale_headers, stale).await, 401);
    assert_eq!(listen.post(&headers, body).await, 200);
    let hostile = json!({
        "event": HOSTILE_TYPE, "eventId": "evt_hostile", "data": { "note": HOSTILE_NOTE },
    })
    .to_string();
    let hostile_headers = signed("msg_browser_5", hostile.as_bytes());
    let hostile_status = listen.post(&hostile_headers, hostile).await;

    wait_for(&browser, "#requests tbody tr[data-seq='5']").await;
    let (_, api) = listen.get_json("api/requests").await;
    let hostile_outcome = api["requests"][0]["outcome"].as_str().unwrap().to_owned();
    assert_eq!(hostile_status, api["requests"][0]["status"]);
    assert_eq!(
        rows(&browser).await,
        [
            (5, hostile_outcome),
            (4, "duplicate".to_owned()),
            (3, "rejected".to_owned()),
            (2, "rejected".to_owned()),
            (1, "processed".to_owned()),
        ]
    );
    assert_eq!(
        js(&browser, "return window.__sameDocument === true;").await,
        true
    );
    // The rejections' reasons, in words.
    let reason = |seq: u64| format!("#requests tr[data-seq='{seq}'] td.reason");
    assert!(
        text(&browser, &reason(2))
            .await
            .contains("none of the 1 signatures matches")
    );
    assert!(
        text(&browser, &reason(3))
            .await
            .contains("s old, beyond the tolerance of 300 s")
    );
    // The hostile type is text in its cell, and no markup of it made an element.
    assert_eq!(
        text(&browser, "#requests tr[data-seq='5'] td:nth-child(4)").await,
        HOSTILE_TYPE
    );
    assert_eq!(
        js(&browser, "return document.querySelectorAll('img').length;").await,
        0
    );
    assert_eq!(
        js(&browser, "return window.__pwned === undefined;").await,
        true
    );

    // Filters: by outcome, by type.
    browser
        .find(Locator::Css("#outcome-filter option[value='rejected']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(text(&browser, "#count").await, "2 of 5 shown");
    browser
        .find(Locator::Css("#outcome-filter option[value='']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(text(&browser, "#count").await, "5 of 5 shown");

    // The list with its rows, for the README.
    if let Ok(path) = std::env::var("INSPECTOR_SCREENSHOT") {
        // Without the arrival highlight, which fades in a second.
        js(&browser, "document.querySelectorAll('tr.new').forEach(r => r.classList.remove('new')); return null;").await;
        std::fs::write(&path, browser.screenshot().await.unwrap()).unwrap();
    }

    // The duplicate's detail: its skew, and the link to the first delivery.
    browser
        .find(Locator::LinkText("#4"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let (_, duplicate) = listen.get_json("api/requests/4").await;
    let skew = duplicate["timestamp_skew_s"].as_i64().unwrap();
    assert_eq!(
        text(&browser, "#skew").await,
        format!("{skew} s (within the 300 s tolerance)")
    );
    let link = wait_for(&browser, "#duplicate-of").await;
    assert_eq!(link.text().await.unwrap(), "duplicate of #1");
    link.click().await.unwrap();
    wait_for(&browser, "#replay[data-seq='1']").await;

    // The stale one's skew is outside the tolerance.
    browser
        .goto(&format!("{}requests/3", listen.inspector))
        .await
        .unwrap();
    let (_, stale) = listen.get_json("api/requests/3").await;
    let skew = stale["timestamp_skew_s"].as_i64().unwrap();
    assert!(skew >= 1000, "{stale}");
    assert_eq!(
        text(&browser, "#skew").await,
        format!("{skew} s (outside the 300 s tolerance)")
    );

    // Replay it re-signed from its detail while the list is open in another window: the list
    // gets the new row live.
    let list_window = browser.window().await.unwrap();
    let detail_window = browser.new_window(false).await.unwrap().handle;
    browser
        .switch_to_window(detail_window.clone())
        .await
        .unwrap();
    browser
        .goto(&format!("{}requests/3", listen.inspector))
        .await
        .unwrap();
    wait_for(&browser, "#replay-resign")
        .await
        .click()
        .await
        .unwrap();
    assert_eq!(text(&browser, "#replay-of").await, "replay of #3");
    let _ = listen.next_line();
    assert!(
        browser
            .current_url()
            .await
            .unwrap()
            .as_str()
            .ends_with("/requests/6")
    );
    assert_eq!(text(&browser, "h1 .outcome").await, "processed");
    browser.switch_to_window(list_window).await.unwrap();
    browser.goto(&listen.inspector).await.unwrap();
    wait_for(&browser, "#live.on").await;
    js(&browser, "window.__sameDocument = true; return null;").await;
    browser.switch_to_window(detail_window).await.unwrap();
    browser
        .goto(&format!("{}requests/1", listen.inspector))
        .await
        .unwrap();
    wait_for(&browser, "#replay").await.click().await.unwrap();
    assert_eq!(text(&browser, "#replay-of").await, "replay of #1");
    let _ = listen.next_line();
    let handles = browser.windows().await.unwrap();
    browser.close_window().await.unwrap();
    browser.switch_to_window(handles[0].clone()).await.unwrap();
    wait_for(&browser, "#requests tbody tr[data-seq='7']").await;
    assert_eq!(rows(&browser).await[0], (7, "duplicate".to_owned()));
    assert_eq!(rows(&browser).await[1], (6, "processed".to_owned()));
    assert_eq!(
        js(&browser, "return window.__sameDocument === true;").await,
        true
    );

    // The hostile body in the detail: text in the page, no element made of it.
    browser
        .goto(&format!("{}requests/5", listen.inspector))
        .await
        .unwrap();
    let shown = text(&browser, "#body").await;
    assert!(
        shown.contains(HOSTILE_NOTE.replace('"', "\\\"").as_str()),
        "{shown}"
    );
    assert_eq!(
        js(&browser, "return document.querySelectorAll('img').length + document.querySelectorAll('script:not([src])').length;").await,
        0
    );
    assert_eq!(
        js(&browser, "return window.__pwned === undefined;").await,
        true
    );
    browser.close().await.unwrap();
}
