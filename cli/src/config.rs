//! The CLI's own folders and settings: where the configuration lives, where files are received by
//! default, and the alias (`settings.json`). The apps keep their own; core needs none of this.

use ferry_core::Error;
use rand::seq::IndexedRandom;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// The config folder: `$FERRY_CONFIG_DIR`, else the user's config folder (`$XDG_CONFIG_HOME`,
/// else `~/.config`) plus `ferry`. (`--config-dir` overrides both.)
pub fn default_config_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("FERRY_CONFIG_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(d);
    }
    dirs::config_dir().unwrap_or_else(|| home().join(".config")).join("ferry")
}

/// Where files are received unless `--dir` says otherwise: `Ferry` in the user's download folder
/// (on Linux the `XDG_DOWNLOAD_DIR` of `user-dirs.dirs`), else in `~/Downloads`.
pub fn default_receive_dir() -> PathBuf {
    dirs::download_dir().unwrap_or_else(|| home().join("Downloads")).join("Ferry")
}

fn home() -> PathBuf {
    dirs::home_dir().unwrap_or_else(|| PathBuf::from("."))
}

const ADJECTIVES: &[&str] = &[
    "Brave", "Calm", "Clever", "Cosy", "Eager", "Fancy", "Gentle", "Happy", "Jolly", "Kind", "Lucky", "Mellow", "Nice", "Proud", "Quick",
    "Quiet", "Shiny", "Silly", "Sunny", "Swift", "Tidy", "Witty",
];
const NOUNS: &[&str] = &[
    "Apple",
    "Apricot",
    "Banana",
    "Cherry",
    "Coconut",
    "Fig",
    "Grape",
    "Kiwi",
    "Lemon",
    "Lime",
    "Mango",
    "Melon",
    "Orange",
    "Papaya",
    "Peach",
    "Pear",
    "Plum",
    "Quince",
    "Raspberry",
    "Strawberry",
];

/// A friendly random alias such as "Sunny Mango".
pub fn random_alias() -> String {
    let mut rng = rand::rng();
    format!("{} {}", ADJECTIVES.choose(&mut rng).unwrap(), NOUNS.choose(&mut rng).unwrap())
}

/// The CLI's persistent settings (`settings.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    pub alias: String,
}

impl Settings {
    /// Loads `settings.json`, creating it with a random alias on first use.
    pub fn load_or_create(dir: &Path) -> Result<Settings, Error> {
        let path = dir.join("settings.json");
        if let Ok(text) = std::fs::read_to_string(&path) {
            if let Ok(s) = serde_json::from_str::<Settings>(&text) {
                if !s.alias.trim().is_empty() {
                    return Ok(s);
                }
            }
        }
        let s = Settings { alias: random_alias() };
        s.save(dir)?;
        Ok(s)
    }

    /// Writes `settings.json` whole or not at all (a private temporary file renamed into place).
    pub fn save(&self, dir: &Path) -> Result<(), Error> {
        let text = serde_json::to_vec_pretty(self).map_err(|e| Error::invalid(e.to_string()))?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        let path = dir.join("settings.json");
        let failed = |e: std::io::Error| Error::io(format!("cannot write {}", path.display()), e);
        // Made readable by the owner only.
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(failed)?;
        tmp.write_all(&text).and_then(|_| tmp.as_file().sync_all()).map_err(failed)?;
        tmp.persist(&path).map_err(|e| failed(e.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_keep_alias() {
        let dir = tempfile::tempdir().unwrap();
        let a = Settings::load_or_create(dir.path()).unwrap();
        let b = Settings::load_or_create(dir.path()).unwrap();
        assert_eq!(a, b);
        assert!(a.alias.contains(' '));
        let mut c = a.clone();
        c.alias = "Renamed".into();
        c.save(dir.path()).unwrap();
        assert_eq!(Settings::load_or_create(dir.path()).unwrap().alias, "Renamed");
    }

    /// The only test here that reads the environment (the other one does not), so changing it
    /// races with nothing.
    #[test]
    fn folders_come_from_the_user_dirs_file() {
        let home = tempfile::tempdir().unwrap();
        let cfg = home.path().join("cfg");
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::write(cfg.join("user-dirs.dirs"), "# written by xdg-user-dirs-update\nXDG_DOWNLOAD_DIR=\"$HOME/Dl\"\n").unwrap();
        std::env::set_var("HOME", home.path());
        std::env::set_var("XDG_CONFIG_HOME", &cfg);
        // A variable of that name in the environment is not where the folder is configured.
        std::env::set_var("XDG_DOWNLOAD_DIR", "/elsewhere");
        std::env::remove_var("FERRY_CONFIG_DIR");
        assert_eq!(default_receive_dir(), home.path().join("Dl").join("Ferry"));
        assert_eq!(default_config_dir(), cfg.join("ferry"));
        std::env::set_var("FERRY_CONFIG_DIR", home.path().join("mine"));
        assert_eq!(default_config_dir(), home.path().join("mine"));
        // Without the file: ~/Downloads.
        std::fs::remove_file(cfg.join("user-dirs.dirs")).unwrap();
        assert_eq!(default_receive_dir(), home.path().join("Downloads").join("Ferry"));
    }
}
