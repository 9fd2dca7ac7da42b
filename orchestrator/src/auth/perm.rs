//! Key permissions, and the marker types that put the permission a route needs into its
//! handler's signature: `caller: Authed<perm::Files>` cannot be written without saying which
//! permission the route takes, and the extractor refuses a key without it (`403 FORBIDDEN`).

use std::fmt;

/// One thing a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Perm {
    /// List and inspect instances and their status.
    InstancesRead,
    /// Create, change, start, stop, reboot and delete instances.
    InstancesWrite,
    /// Chat sessions and turns.
    Chat,
    /// The workspace's files.
    Files,
    /// Exec, terminals, the desktop and their websocket tokens.
    Terminal,
    /// The account itself: its keys, billing, invite codes; on admin accounts also
    /// `/api/admin/...`.
    Admin,
}

impl Perm {
    pub const ALL: [Perm; 6] = [
        Perm::InstancesRead,
        Perm::InstancesWrite,
        Perm::Chat,
        Perm::Files,
        Perm::Terminal,
        Perm::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Perm::InstancesRead => "instances:read",
            Perm::InstancesWrite => "instances:write",
            Perm::Chat => "chat",
            Perm::Files => "files",
            Perm::Terminal => "terminal",
            Perm::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Perm> {
        Perm::ALL.into_iter().find(|p| p.as_str() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Perm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of permissions.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Perms(u8);

impl Perms {
    pub fn all() -> Perms {
        Perms::from_iter(Perm::ALL)
    }

    pub fn contains(self, p: Perm) -> bool {
        self.0 & p.bit() != 0
    }

    pub fn is_subset_of(self, other: Perms) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Perm> {
        Perm::ALL.into_iter().filter(move |p| self.contains(*p))
    }

    /// Parse names (`["chat", "files"]`); the first unknown name is the error.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Perms, String> {
        let mut set = Perms::default();
        for name in names {
            let p = Perm::parse(name.trim()).ok_or_else(|| name.trim().to_owned())?;
            set.0 |= p.bit();
        }
        Ok(set)
    }

    /// The stored form: comma-separated names. Unknown stored names are ignored.
    pub fn from_stored(s: &str) -> Perms {
        Perms::from_iter(s.split(',').filter_map(|n| Perm::parse(n.trim())))
    }

    pub fn to_stored(self) -> String {
        self.names().join(",")
    }

    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Perm::as_str).collect()
    }
}

impl FromIterator<Perm> for Perms {
    fn from_iter<I: IntoIterator<Item = Perm>>(iter: I) -> Self {
        Perms(iter.into_iter().fold(0, |acc, p| acc | p.bit()))
    }
}

impl fmt::Debug for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// Which rate-limit bucket a route draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateClass {
    /// Chat turns and history (seed 003: 100 a minute).
    Chat,
    /// Reads (`GET`; seed 003: 1000 a minute).
    Read,
    /// Everything else.
    Write,
}

/// What a route demands of its caller. Implemented only by the markers in this module.
pub trait Permission: 'static {
    /// The key permission needed; `None`: any valid key.
    const NEEDS: Option<Perm>;
    /// A signed-in browser session (cookie; unsafe methods also need the CSRF token) may
    /// call the route too, with every permission of its account.
    const SESSION: bool = false;
    /// Only admin accounts (`403` for others, whatever the key's permissions).
    const ADMIN_ACCOUNT: bool = false;
    /// The rate-limit bucket; `None`: by method (`GET` reads, others writes).
    const CLASS: Option<RateClass> = None;
}

macro_rules! markers {
    ($($(#[doc = $doc:literal])* $name:ident { $($item:tt)* })*) => {
        $(
            $(#[doc = $doc])*
            #[derive(Debug, Clone, Copy)]
            pub struct $name;
            impl Permission for $name { $($item)* }
        )*
    };
}

markers! {
    /// `instances:read`.
    InstancesRead { const NEEDS: Option<Perm> = Some(Perm::InstancesRead); }
    /// `instances:write`.
    InstancesWrite { const NEEDS: Option<Perm> = Some(Perm::InstancesWrite); }
    /// `chat` (rate class: chat).
    Chat {
        const NEEDS: Option<Perm> = Some(Perm::Chat);
        const CLASS: Option<RateClass> = Some(RateClass::Chat);
    }
    /// `files`.
    Files { const NEEDS: Option<Perm> = Some(Perm::Files); }
    /// `terminal`.
    Terminal { const NEEDS: Option<Perm> = Some(Perm::Terminal); }
    /// The account's own keys, billing and invite: a key with `admin`, or the signed-in
    /// account (`/account`).
    Account {
        const NEEDS: Option<Perm> = Some(Perm::Admin);
        const SESSION: bool = true;
    }
    /// `/api/admin/...`: a key with `admin` on an admin account.
    Admin {
        const NEEDS: Option<Perm> = Some(Perm::Admin);
        const ADMIN_ACCOUNT: bool = true;
    }
    /// Any valid key, or the signed-in account.
    AnyCaller {
        const NEEDS: Option<Perm> = None;
        const SESSION: bool = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_parse_store_and_compare() {
        let s = Perms::parse(["chat", " files"]).unwrap();
        assert!(s.contains(Perm::Chat) && s.contains(Perm::Files));
        assert!(!s.contains(Perm::Admin));
        assert_eq!(s.to_stored(), "chat,files");
        assert_eq!(Perms::from_stored("chat,files,bogus"), s);
        assert!(s.is_subset_of(Perms::all()));
        assert!(!Perms::all().is_subset_of(s));
        assert_eq!(Perms::parse(["chat", "root"]).unwrap_err(), "root");
        assert_eq!(Perms::all().names().len(), 6);
    }
}
