//! What a service's container runs: `command` and `entrypoint` (a string is split into words
//! like a shell would, see `shell_words`), `environment`, and the variables of its `env_file`s,
//! which are read here.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::ServiceConversion;
use super::shell_words::shell_words;
use crate::load::decode::{Keyed, ListOrMap, Spanned, StrOrList};
use crate::load::raw::{RawEnvFile, RawEnvFiles};
use crate::load::{dotenv, paths};

impl ServiceConversion<'_, '_> {
    pub(super) fn command(&mut self, c: Spanned<StrOrList>, key: &str) -> Vec<String> {
        match c.value {
            StrOrList::List(v) => v,
            StrOrList::One(s) => match shell_words(&s) {
                Ok(words) => words,
                Err(e) => {
                    self.error(
                        &c.loc,
                        format!("`{key}` cannot be split into words: {e}"),
                        "close the quote, or write the command as a list",
                    );
                    Vec::new()
                }
            },
        }
    }

    pub(super) fn environment(&mut self, environment: Option<ListOrMap>) -> BTreeMap<String, Option<String>> {
        let mut out = BTreeMap::new();
        for Keyed { key, value, .. } in environment.map(|e| e.0).unwrap_or_default() {
            let value = value.or_else(|| (self.cx.vars)(&key));
            out.insert(key, value);
        }
        out
    }

    pub(super) fn env_files(
        &mut self,
        files: Option<RawEnvFiles>,
        env: &mut BTreeMap<String, Option<String>>,
    ) -> Vec<PathBuf> {
        let mut paths = Vec::new();
        let mut from_files: BTreeMap<String, String> = BTreeMap::new();
        for f in files.map(|f| f.0).unwrap_or_default() {
            let (path, required, raw) = match f {
                RawEnvFile::Short(p) => (p, true, false),
                RawEnvFile::Long(l) => match l.path {
                    Some(p) => (p, l.required.unwrap_or(true), self.env_file_format(l.format)),
                    None => {
                        let loc = l.loc.clone().unwrap_or_else(|| self.loc.clone());
                        self.error(&loc, "`env_file` entry has no `path`", "write `path: ./file.env`");
                        continue;
                    }
                },
            };
            let abs = paths::absolute(&path.value, self.cx.project_dir, self.cx.home);
            paths.push(abs.clone());
            if !required && !crate::input::exists(&abs) {
                continue;
            }
            match crate::input::read_text(&abs) {
                Ok(text) if raw => from_files.extend(dotenv::parse_raw(&text)),
                Ok(text) => match dotenv::parse(&text, &Arc::from(abs.as_path()), self.cx.vars) {
                    Ok(vars) => from_files.extend(vars),
                    Err(d) => self.diags.push(d),
                },
                Err(e) => self
                    .diags
                    .push(crate::load::input_error(path.loc.clone(), e, "env file")),
            }
        }
        for (k, v) in from_files {
            env.entry(k).or_insert(Some(v));
        }
        paths
    }

    /// `label_file`: labels read from files in order (a later file wins), under the service's
    /// own `labels`, as compose merges them.
    pub(super) fn label_files(&mut self, files: Option<StrOrList>, labels: &mut BTreeMap<String, String>) {
        let mut from_files: BTreeMap<String, String> = BTreeMap::new();
        for file in files.map(StrOrList::into_vec).unwrap_or_default() {
            let abs = paths::absolute(&file, self.cx.project_dir, self.cx.home);
            match crate::input::read_text(&abs) {
                Ok(text) => match dotenv::parse(&text, &Arc::from(abs.as_path()), self.cx.vars) {
                    Ok(vars) => from_files.extend(vars),
                    Err(d) => self.diags.push(d),
                },
                Err(e) => self
                    .diags
                    .push(crate::load::input_error(self.loc.clone(), e, "label file")),
            }
        }
        for (k, v) in from_files {
            labels.entry(k).or_insert(v);
        }
    }

    /// `env_file.format`: whether the file is read `raw` (as it is) rather than as a `.env`.
    fn env_file_format(&mut self, format: Option<Spanned<String>>) -> bool {
        match format.as_ref().map(|f| f.value.as_str()) {
            None => false,
            Some("raw") => true,
            Some(other) => {
                let loc = format.as_ref().map_or_else(|| self.loc.clone(), |f| f.loc.clone());
                self.error(
                    &loc,
                    format!("unknown env_file format {other:?}"),
                    "leave `format` out for a .env file, or write `format: raw` to take the lines as they are",
                );
                false
            }
        }
    }
}
