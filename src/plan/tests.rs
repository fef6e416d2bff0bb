//! The planner's rules, table-driven, against hand-made observed states.

use super::*;
use crate::observed::{ObservedContainer, ObservedObject};

fn project(yaml: &str) -> Project {
    crate::load::test_project(yaml)
}

/// The observed state after a successful `up` of `p`: every container running and current.
fn converged(p: &Project) -> Observed {
    let mut o = Observed::default();
    for s in p.services.values() {
        let image = identity::normalise_image(&identity::image_name(p, s));
        o.images.insert(image, format!("sha256:{}", s.name));
        for n in 1..=s.replicas() as u32 {
            let spec = spec::container_spec(p, s, n).unwrap();
            o.containers.push(ObservedContainer {
                config: None,
                id: format!("id-{}-{n}", s.name),
                name: spec.name,
                service: s.name.clone(),
                number: n,
                hash: Some(spec.hash),
                image_id: format!("sha256:{}", s.name),
                state: ContainerState::Running,
                health: None,
                created: 1,
            });
        }
    }
    for n in p.networks.values() {
        o.networks.insert(
            n.name.clone(),
            ObservedObject {
                id: n.name.clone(),
                project: Some(p.name.clone()),
                managed: true,
            },
        );
    }
    for v in p.volumes.values() {
        o.volumes.insert(
            v.name.clone(),
            ObservedObject {
                id: v.name.clone(),
                project: Some(p.name.clone()),
                managed: true,
            },
        );
    }
    o
}

#[test]
fn services_left_alone_get_no_start_create_or_pull() {
    let p = project(
        "services:\n  db: {image: postgres:16}\n  app: {image: app:1, environment: {A: '2'}}\n  new: {image: new:1}\n",
    );
    let mut o = converged(&p);
    o.images.clear();
    o.containers.retain(|c| c.service != "new");
    for c in o.containers.iter_mut() {
        c.state = ContainerState::Exited;
        if c.service == "app" {
            c.hash = Some("old".into());
        }
    }
    let mut plan = plan_with(&p, &o, true);
    assert_eq!(
        actions(&plan),
        [
            "pull app:1",
            "recreate p-app-1",
            "pull postgres:16",
            "start p-db-1",
            "pull new:1",
            "create p-new-1"
        ]
    );
    plan.leave_alone(&["app".to_string(), "new".to_string()].into_iter().collect());
    assert_eq!(actions(&plan), ["keep p-app-1", "pull postgres:16", "start p-db-1"]);
}

/// One line per action, for table assertions.
fn actions(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    out.extend(plan.networks.iter().map(|n| format!("network {}", n.name)));
    out.extend(plan.volumes.iter().map(|v| format!("volume {}", v.name)));
    out.extend(plan.removals.iter().map(|r| format!("remove {}", r.name)));
    for s in &plan.services {
        match &s.image {
            ImageStep::Present(_) => {}
            ImageStep::Pull(i) => out.push(format!("pull {i}")),
            ImageStep::Build(i) => out.push(format!("build {i}")),
            ImageStep::Missing(i) => out.push(format!("missing {i}")),
        }
        for c in &s.containers {
            out.push(match c {
                ContainerStep::Keep { name, .. } => format!("keep {name}"),
                ContainerStep::Start { name, .. } => format!("start {name}"),
                ContainerStep::Create { spec } => format!("create {}", spec.name),
                ContainerStep::Recreate { spec, .. } => format!("recreate {}", spec.name),
                ContainerStep::Restart { name, .. } => format!("restart {name}"),
            });
        }
    }
    out
}

const APP: &str = "services:\n  db:\n    image: postgres\n    volumes: [data:/d]\n  cache:\n    image: redis\n  web:\n    image: web\n    depends_on:\n      db: {condition: service_healthy, restart: true}\n      cache: {condition: service_started}\nvolumes:\n  data: {}\n";

#[test]
fn table() {
    let app = project(APP);
    type Edit = fn(&Project, &mut Observed);
    let rows: Vec<(&str, &str, Edit, Vec<&str>)> = vec![
        (
            "fresh engine",
            APP,
            |_, o| *o = Observed::default(),
            vec![
                "network p_default",
                "volume p_data",
                "pull redis",
                "create p-cache-1",
                "pull postgres",
                "create p-db-1",
                "pull web",
                "create p-web-1",
            ],
        ),
        (
            "converged",
            APP,
            |_, _| {},
            vec!["keep p-cache-1", "keep p-db-1", "keep p-web-1"],
        ),
        (
            "exited container is started",
            APP,
            |_, o| o.containers.iter_mut().find(|c| c.service == "web").unwrap().state = ContainerState::Exited,
            vec!["keep p-cache-1", "keep p-db-1", "start p-web-1"],
        ),
        (
            "changed config recreates it, restart: true restarts dependents",
            APP,
            |_, o| {
                o.containers.iter_mut().find(|c| c.service == "db").unwrap().hash = Some("old".into());
            },
            vec!["keep p-cache-1", "recreate p-db-1", "restart p-web-1"],
        ),
        (
            "changed dependency without restart: true leaves dependents",
            APP,
            |_, o| {
                o.containers.iter_mut().find(|c| c.service == "cache").unwrap().hash = Some("old".into());
            },
            vec!["recreate p-cache-1", "keep p-db-1", "keep p-web-1"],
        ),
        (
            "new image id recreates",
            APP,
            |_, o| {
                o.images.insert("redis:latest".into(), "sha256:new".into());
            },
            vec!["recreate p-cache-1", "keep p-db-1", "keep p-web-1"],
        ),
        (
            "orphan is removed",
            APP,
            |_, o| {
                let mut c = o.containers[0].clone();
                c.service = "gone".into();
                c.name = "p-gone-1".into();
                o.containers.push(c);
            },
            vec!["remove p-gone-1", "keep p-cache-1", "keep p-db-1", "keep p-web-1"],
        ),
        (
            "duplicate from an interrupted run: keep the current one",
            APP,
            |_, o| {
                let mut stale = o.containers.iter().find(|c| c.service == "db").unwrap().clone();
                stale.id = "stale".into();
                stale.name = "abc_p-db-1".into();
                stale.hash = Some("old".into());
                stale.created = 0;
                o.containers.push(stale);
            },
            vec!["remove abc_p-db-1", "keep p-cache-1", "keep p-db-1", "keep p-web-1"],
        ),
        (
            "created but never started",
            APP,
            |_, o| o.containers.iter_mut().for_each(|c| c.state = ContainerState::Created),
            vec!["start p-cache-1", "start p-db-1", "start p-web-1"],
        ),
        (
            "existing pre-made volume is used, not created",
            APP,
            |_, o| {
                o.volumes.insert(
                    "p_data".into(),
                    ObservedObject {
                        id: "x".into(),
                        project: None,
                        managed: false,
                    },
                );
            },
            vec!["keep p-cache-1", "keep p-db-1", "keep p-web-1"],
        ),
    ];
    for (what, yaml, edit, want) in rows {
        let p = if yaml == APP { app.clone() } else { project(yaml) };
        let mut o = converged(&p);
        edit(&p, &mut o);
        let got = actions(&plan(&p, &o));
        assert_eq!(got, want, "{what}");
    }
    assert!(plan(&app, &converged(&app)).is_noop());
    let mut exited = converged(&app);
    exited
        .containers
        .iter_mut()
        .for_each(|c| c.state = ContainerState::Exited);
    assert!(
        plan_with(&app, &exited, false).is_noop(),
        "resyncs leave exited containers to supervision"
    );
}

#[test]
fn scaling_and_pull_policies() {
    let p = project("services:\n  s:\n    image: x\n    deploy: {replicas: 3}\n");
    let mut o = converged(&p);
    let p1 = project("services:\n  s:\n    image: x\n    deploy: {replicas: 1}\n");
    o.containers
        .iter_mut()
        .for_each(|c| c.hash = Some(spec::container_spec(&p1, &p1.services["s"], c.number).unwrap().hash));
    assert_eq!(
        actions(&plan(&p1, &o)),
        vec!["remove p-s-2", "remove p-s-3", "keep p-s-1"]
    );

    let never = project("services:\n  s:\n    image: x\n    pull_policy: never\n");
    assert_eq!(actions(&plan(&never, &Observed::default()))[1], "missing x");
    let always = project("services:\n  s:\n    image: x\n    pull_policy: always\n");
    assert!(actions(&plan(&always, &converged(&always))).contains(&"pull x".to_string()));
    let build = project("services:\n  s:\n    build: .\n");
    assert_eq!(actions(&plan(&build, &Observed::default()))[1], "build p-s");
}

#[test]
fn plans_never_remove_volumes_and_order_dependencies_first() {
    let p = project(APP);
    let plan = plan(&p, &Observed::default());
    let order: Vec<&str> = plan.services.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(order, vec!["cache", "db", "web"]);
    let web = &plan.services[2];
    assert_eq!(web.after.len(), 2);
    assert!(
        plan.to_string()
            .contains("service web (after cache started, db healthy)"),
        "{plan}"
    );
}
