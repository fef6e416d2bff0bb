//! The Docker engine is reachable from Rust through bollard, and the test images exist.

mod support;

use bollard::query_parameters::ListImagesOptionsBuilder;
use composed::engine::{Engine, MIN_API_VERSION};

#[tokio::test]
async fn engine_answers_with_a_supported_api() {
    let engine = Engine::connect().expect("a client for DOCKER_HOST");
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
    engine.docker.ping().await.expect("ping");

    // tests/setup-engine.sh builds the busybox test image from scratch; later tests rely on it.
    let filters = std::collections::HashMap::from([("reference".to_string(), vec![support::TEST_IMAGE.to_string()])]);
    let images = engine
        .docker
        .list_images(Some(ListImagesOptionsBuilder::default().filters(&filters).build()))
        .await
        .expect("list images");
    assert_eq!(
        images.len(),
        1,
        "{} is missing; run tests/setup-engine.sh",
        support::TEST_IMAGE
    );
}
