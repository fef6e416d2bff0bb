//! What the engine has for one project: the observed state the planner compares with the desired
//! one. Plain data, filled by [`crate::engine`] from one list call per resource kind.

use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerState {
    Created,
    Running,
    Paused,
    Restarting,
    Exited,
    Dead,
    Removing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Starting,
    Healthy,
    Unhealthy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedContainer {
    pub id: String,
    pub name: String,
    pub service: String,
    pub number: u32,
    /// composed's config hash label; `None` for containers composed did not create.
    pub hash: Option<String>,
    /// The configuration it was created from (`composed.service-config`), if recorded.
    pub config: Option<String>,
    pub image_id: String,
    pub state: ContainerState,
    pub health: Option<Health>,
    /// Creation time (seconds since the epoch), to prefer the newest of duplicates.
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedObject {
    pub id: String,
    /// Its compose project label ([`crate::identity::PROJECT`]), if any.
    pub project: Option<String>,
    /// composed created it ([`crate::identity::MANAGED_BY`]).
    pub managed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    /// The project's containers (by the project label), one-off containers excluded.
    pub containers: Vec<ObservedContainer>,
    /// Every network on the engine, by name.
    pub networks: BTreeMap<String, ObservedObject>,
    /// Every volume on the engine, by name.
    pub volumes: BTreeMap<String, ObservedObject>,
    /// Every tagged image: normalised reference -> image id.
    pub images: HashMap<String, String>,
    /// Images of `pull_policy: daily|weekly|every_<d>` services tagged longer ago than that:
    /// due a pull (normalised references; filled by [`crate::execute::refresh_due`]).
    pub stale_images: std::collections::BTreeSet<String>,
}
