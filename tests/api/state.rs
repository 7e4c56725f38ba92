//! Every way a callback's `state` can be wrong is refused before the platform is called.

use std::time::Duration;

use crate::helpers::*;

async fn rejected(app: &TestApp, browser: &Browser, query: &str) -> (u16, String) {
    let response = browser.callback(app, query).await;
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[apply(each_engine)]
#[tokio::test]
async fn callback_without_state_is_rejected_without_calling_the_platform(#[case] engine: Engine) {
    let Some(app) = spawn_app_on(engine, &[]).await else {
        return;
    };
    platform_must_not_be_called(&app).await;
    let browser = Browser::new();
    browser.start_authorization(&app).await;
    let (status, html) = rejected(&app, &browser, "code=abc").await;
    assert_eq!(status, 400);
    assert!(html.contains("no state"));
}

#[apply(each_engine)]
#[tokio::test]
async fn callback_with_empty_state_is_rejected_without_calling_the_platform(
    #[case] engine: Engine,
) {
    let Some(app) = spawn_app_on(engine, &[]).await else {
        return;
    };
    platform_must_not_be_called(&app).await;
    let browser = Browser::new();
    browser.start_authorization(&app).await;
    assert_eq!(rejected(&app, &browser, "code=abc&state=").await.0, 400);
}

#[apply(each_engine)]
#[tokio::test]
async fn callback_with_unknown_state_is_rejected_without_calling_the_platform(
    #[case] engine: Engine,
) {
    let Some(app) = spawn_app_on(engine, &[]).await else {
        return;
    };
    platform_must_not_be_called(&app).await;
    let browser = Browser::new();
    browser.start_authorization(&app).await;
    let forged = "0".repeat(64);
    let (status, html) = rejected(&app, &browser, &format!("code=abc&state={forged}")).await;
    assert_eq!(status, 400);
    assert!(html.contains("not known"));
}

#[apply(each_engine)]
#[tokio::test]
async fn callback_with_another_browsers_state_is_rejected_without_calling_the_platform(
    #[case] engine: Engine,
) {
    let Some(app) = spawn_app_on(engine, &[]).await else {
        return;
    };
    platform_must_not_be_called(&app).await;
    let victim = Browser::new();
    let state = victim.start_authorization(&app).await;
    // The attacker has its own cookie, or none at all.
    let attacker = Browser::new();
    attacker.start_authorization(&app).await;
    assert_eq!(
        rejected(&app, &attacker, &format!("code=abc&state={state}"))
            .await
            .0,
        403
    );
    assert_eq!(
        rejected(&app, &Browser::new(), &format!("code=abc&state={state}"))
            .await
            .0,
        403
    );
}

#[apply(each_engine)]
#[tokio::test]
async fn an_attempt_from_another_browser_does_not_burn_the_owners_state(#[case] engine: Engine) {
    let Some(app) = spawn_app_on(engine, &[]).await else {
        return;
    };
    platform_answers(&app, aliexpress_success("owner")).await;
    let owner = Browser::new();
    let state = owner.start_authorization(&app).await;
    assert_eq!(
        rejected(&app, &Browser::new(), &format!("code=x&state={state}"))
            .await
            .0,
        403
    );
    assert_eq!(token_calls(&app).await, 0);
    let response = owner
        .callback(&app, &format!("code=owner&state={state}"))
        .await;
    assert_eq!(response.status(), 303);
}

#[apply(each_engine)]
#[tokio::test]
async fn callback_with_expired_state_is_rejected_without_calling_the_platform(
    #[case] engine: Engine,
) {
    let Some(app) = spawn_app_on(engine, &[]).await else {
        return;
    };
    platform_must_not_be_called(&app).await;
    let browser = Browser::new();
    let state = browser.start_authorization(&app).await;
    app.clock
        .advance(Duration::from_secs(10 * 60) + Duration::from_millis(1));
    let (status, html) = rejected(&app, &browser, &format!("code=abc&state={state}")).await;
    assert_eq!(status, 400);
    assert!(html.contains("within minutes"));
}

#[apply(each_engine)]
#[tokio::test]
async fn a_state_reused_after_a_failed_exchange_shows_that_failure_and_sends_nothing(
    #[case] engine: Engine,
) {
    let Some(app) = spawn_app_on(engine, &[]).await else {
        return;
    };
    platform_answers(
        &app,
        serde_json::json!({"type": "ISV", "code": "InvalidCode", "message": "expired", "request_id": "r1"}),
    )
    .await;
    let browser = Browser::new();
    let state = browser.start_authorization(&app).await;
    assert_eq!(
        rejected(&app, &browser, &format!("code=a&state={state}"))
            .await
            .0,
        502
    );
    // Even with another code: the state is spent, and its outcome stays what it was.
    let (status, html) = rejected(&app, &browser, &format!("code=b&state={state}")).await;
    assert_eq!(status, 502);
    assert!(html.contains("InvalidCode"), "{html}");
    assert!(
        html.contains("nothing was sent to the platform again"),
        "{html}"
    );
    assert_eq!(
        token_calls(&app).await,
        1,
        "the second code never reached the platform"
    );
}

#[apply(each_engine)]
#[tokio::test]
async fn a_cancelled_state_cannot_be_used_for_a_code_afterwards(#[case] engine: Engine) {
    let Some(app) = spawn_app_on(engine, &[]).await else {
        return;
    };
    platform_must_not_be_called(&app).await;
    let browser = Browser::new();
    let state = browser.start_authorization(&app).await;
    assert_eq!(
        rejected(
            &app,
            &browser,
            &format!("error=access_denied&state={state}")
        )
        .await
        .0,
        303
    );
    assert_eq!(
        rejected(&app, &browser, &format!("code=late&state={state}"))
            .await
            .0,
        409
    );
}
