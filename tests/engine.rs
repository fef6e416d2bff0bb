//! The Docker engine is reachable through composed's engine client, and the test images exist.

mod support;

use composed::engine::{DockerEngine, Engine, MIN_API_VERSION};

#[tokio::test]
async fn engine_answers_with_a_supported_api() {
    let engine = DockerEngine::connect().expect("a client for DOCKER_HOST");
    let version = engine.check_version().await;
    if let Err(e) = &version {
        eprintln!("{e}");
    }
    if !support::require("docker", version.is_ok()) {
        return;
    }
    let version = version.unwrap();
    let (major, minor) = version.api.split_once('.').expect("api version");
    assert!((major.parse::<u32>().unwrap(), minor.parse::<u32>().unwrap()) >= MIN_API_VERSION);
    assert!(!version.server.is_empty());
    engine.ping().await.expect("ping");

    // tests/setup-engine.sh builds the busybox test image from scratch; later tests rely on it.
    let observed = engine.observe("ctest-engine").await.expect("list images");
    let image = composed::identity::normalise_image(support::TEST_IMAGE);
    assert!(
        observed.images.contains_key(&image),
        "{} is missing; run tests/setup-engine.sh",
        support::TEST_IMAGE
    );
}
