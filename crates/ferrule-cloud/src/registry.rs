//! The device registry: which devices exist, their credentials, whether they are revoked, the
//! security events seen, and the commands waiting for each device.
//!
//! It is one SQLite database, `DIR/registry.sqlite`, in WAL mode with a 5 s busy timeout, so the
//! command line and a running server can use it at the same time: a revocation made with
//! `ferrule device revoke` is visible to the server's next query, and the server can notice that
//! another process wrote to the database cheaply with [`Registry::data_version`].
//!
//! The API is synchronous; a server calls it from a blocking thread (one [`Registry`], that is one
//! connection, per thread: it is `Send` but not `Sync`).
//!
//! # Tables
//!
//! - `devices(id, name UNIQUE, kid UNIQUE, suite, method, credential, status, created_at,
//!   last_seen, revoked_at)`: `credential` is the device's CCS; `status` is `active` or `revoked`.
//!   Rows are never deleted, so a revoked device's name and kid are never given to another device.
//! - `events(id, at, device, kind, reason, peer)`: security events (see [`event_kind`]).
//! - `commands(id, device, payload, content_format, created_at, delivered_at)`: commands queued
//!   for a device, delivered in order.
//!
//! Times are RFC 3339 UTC text with milliseconds ([`crate::timestamp`]).
//!
//! # Key identifiers
//!
//! [`Registry::add_device`] gives each new device the first `kid` in this order that no device
//! (active or revoked) has: the 48 one-byte values that are one-byte CBOR integers (`0x00..=0x17`,
//! `0x20..=0x37`), for which ID_CRED_I takes its one-byte compact form and a method 3 handshake is
//! the minimal 101 bytes (RFC 9528 Section 3.5.3.2, RFC 9529 Section 3); then two-byte values
//! `0x0100..=0xffff` in big-endian order, then three-byte values from `0x010000`, and so on.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use core::fmt;
use core::time::Duration;

use ferrule_device::bundle::{is_valid_name, key_type_for};
use ferrule_proto::cose::{Ccs, CoseKey, KeyType};
use ferrule_proto::edhoc::{CipherSuite, Method};
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction};

use crate::paths::CloudDir;
use crate::timestamp;

/// How long a statement waits for another process's lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema version kept in SQLite's `user_version`.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS devices (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    kid         BLOB NOT NULL UNIQUE,
    suite       INTEGER NOT NULL,
    method      INTEGER NOT NULL,
    credential  BLOB NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    created_at  TEXT NOT NULL,
    last_seen   TEXT,
    revoked_at  TEXT
);
CREATE TABLE IF NOT EXISTS events (
    id      INTEGER PRIMARY KEY,
    at      TEXT NOT NULL,
    device  TEXT,
    kind    TEXT NOT NULL,
    reason  TEXT NOT NULL,
    peer    TEXT
);
CREATE INDEX IF NOT EXISTS events_by_device ON events (device, id);
CREATE TABLE IF NOT EXISTS commands (
    id              INTEGER PRIMARY KEY,
    device          TEXT NOT NULL REFERENCES devices (name),
    payload         BLOB NOT NULL,
    content_format  INTEGER,
    created_at      TEXT NOT NULL,
    delivered_at    TEXT
);
CREATE INDEX IF NOT EXISTS commands_pending ON commands (device, id) WHERE delivered_at IS NULL;
";

const DEVICE_COLUMNS: &str =
    "name, kid, suite, method, credential, status, created_at, last_seen, revoked_at";

/// The `kind` of the events the registry and the server record, as stored in `events.kind`.
pub mod event_kind {
    /// A device was registered (`ferrule device add`).
    pub const DEVICE_ADDED: &str = "device_added";
    /// A device was revoked (`ferrule device revoke`).
    pub const DEVICE_REVOKED: &str = "device_revoked";
    /// A handshake or request named a kid that no device has.
    pub const UNKNOWN_KID: &str = "unknown_kid";
    /// A revoked device tried to connect or send; it was refused.
    pub const REVOKED_DEVICE: &str = "revoked_device";
    /// An EDHOC handshake failed to authenticate (bad MAC or signature, wrong credential).
    pub const AUTHENTICATION_FAILED: &str = "authentication_failed";
    /// An OSCORE request was a replay.
    pub const REPLAY: &str = "replay";
    /// A message could not be parsed or decrypted.
    pub const MALFORMED: &str = "malformed";
}

/// Why a registry operation failed. Each message names the file or device at fault and says
/// what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The registry database does not exist.
    #[error("{} not found: run `ferrule init --dir {}` first", .path.display(), .dir.display())]
    NotFound {
        /// The database file.
        path: PathBuf,
        /// The cloud directory.
        dir: PathBuf,
    },
    /// SQLite reported an error.
    #[error("device registry {}: {source}", .path.display())]
    Database {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The file is not a registry this version understands, or holds a value it cannot read.
    #[error("device registry {} is not usable: {what}", .path.display())]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// A device name is not of the allowed form.
    #[error(
        "invalid device name {name:?}: use 1 to 64 characters, each a letter, a digit, '.', '_' \
         or '-'"
    )]
    InvalidName {
        /// The name given.
        name: String,
    },
    /// A device of that name exists (names are never reused, even after revocation).
    #[error(
        "device {name:?} is already registered ({status}): choose another name (names are never \
         reused, even after revocation)"
    )]
    DuplicateName {
        /// The name given.
        name: String,
        /// The existing device's status.
        status: DeviceStatus,
    },
    /// No device has that name.
    #[error(
        "no device named {name:?} in {}: see `ferrule device list --dir {}`",
        .path.display(),
        .path.parent().unwrap_or(Path::new(".")).display()
    )]
    UnknownDevice {
        /// The name given.
        name: String,
        /// The database file.
        path: PathBuf,
    },
    /// The device is revoked, so it gets no commands.
    #[error("device {name:?} is revoked: it can no longer receive commands")]
    Revoked {
        /// The device.
        name: String,
    },
    /// The cipher suite is not one of those implemented.
    #[error("cipher suite {suite} is not supported: use 0, 1, 2 or 3")]
    UnsupportedSuite {
        /// The suite given.
        suite: i32,
    },
    /// The public key given is not of the type the method and suite call for.
    #[error(
        "the device's public key must be {expected:?} for EDHOC method {method} with cipher \
         suite {suite}"
    )]
    WrongKeyType {
        /// The key type needed.
        expected: KeyType,
        /// The method.
        method: u8,
        /// The suite.
        suite: i32,
    },
    /// Every key identifier up to 8 bytes is taken.
    #[error("no key identifier left in {}", .path.display())]
    KidsExhausted {
        /// The database file.
        path: PathBuf,
    },
}

/// Whether a device may connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceStatus {
    /// The device may connect.
    Active,
    /// The device is refused from its next message on.
    Revoked,
}

impl DeviceStatus {
    /// The status as stored: `active` or `revoked`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Revoked => "revoked",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(Self::Active),
            "revoked" => Some(Self::Revoked),
            _ => None,
        }
    }
}

impl fmt::Display for DeviceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A registered device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// Its name (also the `sub` of its credential).
    pub name: String,
    /// Its key identifier, the `kid` of its credential's COSE_Key.
    pub kid: Vec<u8>,
    /// The cipher suite it uses.
    pub suite: CipherSuite,
    /// The EDHOC method it uses.
    pub method: Method,
    /// Its credential CRED_I: a CCS (RFC 9528 Section 3.5.2).
    pub credential: Vec<u8>,
    /// Whether it may connect.
    pub status: DeviceStatus,
    /// When it was registered.
    pub created_at: SystemTime,
    /// When the server last heard from it, if ever ([`Registry::touch`]).
    pub last_seen: Option<SystemTime>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<SystemTime>,
}

impl Device {
    /// Whether the device may connect.
    pub fn is_active(&self) -> bool {
        self.status == DeviceStatus::Active
    }
}

/// What [`Registry::add_device`] needs to register a device.
#[derive(Clone, Copy, Debug)]
pub struct NewDevice<'a> {
    /// The name: 1 to 64 characters, each a letter, a digit, `.`, `_` or `-`.
    pub name: &'a str,
    /// The EDHOC method the device will use (it is the initiator).
    pub method: Method,
    /// The cipher suite the device will use.
    pub suite: CipherSuite,
    /// The type of its public key: what [`key_type_for`] says for the method's initiator mode
    /// and the suite.
    pub key_type: KeyType,
    /// Its public key (X25519 / Ed25519 key, or P-256 x-coordinate).
    pub public_key: &'a [u8; 32],
    /// The P-256 y-coordinate; `None` for X25519 and Ed25519 keys.
    pub public_key_y: Option<&'a [u8; 32]>,
}

/// A security event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Its sequence number (increasing).
    pub id: i64,
    /// When it happened.
    pub at: SystemTime,
    /// The device concerned, if known.
    pub device: Option<String>,
    /// What happened: one of [`event_kind`], or another short identifier.
    pub kind: String,
    /// Why, for people.
    pub reason: String,
    /// The peer address, if any.
    pub peer: Option<String>,
}

/// A command queued for a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// Its sequence number (increasing): commands are delivered in this order.
    pub id: i64,
    /// The device it is for.
    pub device: String,
    /// The payload sent to the device.
    pub payload: Vec<u8>,
    /// The CoAP Content-Format of the payload, if given.
    pub content_format: Option<u16>,
    /// When it was queued.
    pub created_at: SystemTime,
    /// When it was delivered, if it was.
    pub delivered_at: Option<SystemTime>,
}

/// The device registry of one cloud directory; see the [module documentation](self).
#[derive(Debug)]
pub struct Registry {
    conn: Connection,
    path: PathBuf,
}

impl Registry {
    /// Opens `DIR/registry.sqlite`, creating it with its tables if it does not exist. `DIR` must
    /// exist.
    ///
    /// # Errors
    /// [`RegistryError::Database`] if SQLite cannot create or open it, [`RegistryError::Corrupt`]
    /// if it is a database of a newer schema.
    pub fn create(dir: &Path) -> Result<Self, RegistryError> {
        let path = CloudDir::new(dir).registry();
        let conn = Connection::open(&path).map_err(|source| RegistryError::Database {
            path: path.clone(),
            source,
        })?;
        let registry = Self::configure(conn, path)?;
        let version = registry.schema_version()?;
        if version > SCHEMA_VERSION {
            return Err(registry.newer_schema(version));
        }
        let db = |source| RegistryError::Database {
            path: registry.path.clone(),
            source,
        };
        registry
            .conn
            .execute_batch(&format!(
                "BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
            ))
            .map_err(db)?;
        Ok(registry)
    }

    /// Opens the existing `DIR/registry.sqlite`.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] if it does not exist (run `ferrule init` first),
    /// [`RegistryError::Database`] if SQLite cannot open it, [`RegistryError::Corrupt`] if it is
    /// not a registry of this schema.
    pub fn open(dir: &Path) -> Result<Self, RegistryError> {
        let path = CloudDir::new(dir).registry();
        if !path.is_file() {
            return Err(RegistryError::NotFound {
                path,
                dir: dir.to_path_buf(),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&path, flags).map_err(|source| {
            RegistryError::Database {
                path: path.clone(),
                source,
            }
        })?;
        let registry = Self::configure(conn, path)?;
        match registry.schema_version()? {
            SCHEMA_VERSION => Ok(registry),
            0 => Err(RegistryError::Corrupt {
                path: registry.path.clone(),
                what: "it is not a ferrule device registry (no schema version); run `ferrule \
                       init` to create one"
                    .to_owned(),
            }),
            newer => Err(registry.newer_schema(newer)),
        }
    }

    /// Sets the connection options every registry connection uses.
    fn configure(conn: Connection, path: PathBuf) -> Result<Self, RegistryError> {
        let db = |source| RegistryError::Database {
            path: path.clone(),
            source,
        };
        conn.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(db)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "registry could not switch to WAL mode");
        }
        conn.execute_batch("PRAGMA foreign_keys = ON;")
            .map_err(db)?;
        Ok(Self { conn, path })
    }

    /// Trades the durability of the latest writes for speed on this connection: in WAL mode with
    /// `synchronous = NORMAL` a commit no longer waits for an `fsync`, and a power cut (not a
    /// crash of the process) may lose the last few transactions but never corrupts the
    /// database (SQLite, "WAL mode"). For the server's high-rate writes (last seen, security
    /// events, delivered commands); provisioning and revocation keep the default, which syncs.
    ///
    /// # Errors
    /// If SQLite refuses the setting.
    pub fn relax_durability(&self) -> Result<(), RegistryError> {
        self.conn
            .execute_batch("PRAGMA synchronous = NORMAL;")
            .map_err(|source| self.db(source))
    }

    fn schema_version(&self) -> Result<i64, RegistryError> {
        self.conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|source| self.db(source))
    }

    fn newer_schema(&self, version: i64) -> RegistryError {
        RegistryError::Corrupt {
            path: self.path.clone(),
            what: format!(
                "its schema version {version} is newer than this ferrule understands \
                 ({SCHEMA_VERSION}); use a newer ferrule"
            ),
        }
    }

    fn db(&self, source: rusqlite::Error) -> RegistryError {
        RegistryError::Database {
            path: self.path.clone(),
            source,
        }
    }

    fn corrupt(&self, what: String) -> RegistryError {
        RegistryError::Corrupt {
            path: self.path.clone(),
            what,
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Registers a device: allocates its kid (see the [module documentation](self)), makes its
    /// credential (a CCS with subject `name` and the kid), stores it as active and records a
    /// [`event_kind::DEVICE_ADDED`] event, all in one transaction.
    ///
    /// # Errors
    /// [`RegistryError::InvalidName`], [`RegistryError::DuplicateName`],
    /// [`RegistryError::UnsupportedSuite`], [`RegistryError::WrongKeyType`] for bad input;
    /// [`RegistryError::Database`] if SQLite fails.
    pub fn add_device(&self, new: &NewDevice<'_>) -> Result<Device, RegistryError> {
        if !is_valid_name(new.name) {
            return Err(RegistryError::InvalidName {
                name: new.name.to_owned(),
            });
        }
        let suite_id = new.suite.id();
        let expected = key_type_for(new.method.initiator(), new.suite)
            .ok_or(RegistryError::UnsupportedSuite { suite: suite_id })?;
        if new.key_type != expected || new.public_key_y.is_some() != (expected == KeyType::P256) {
            return Err(RegistryError::WrongKeyType {
                expected,
                method: new.method.id(),
                suite: suite_id,
            });
        }

        let tx = self.begin_immediate()?;
        if let Some(existing) = self.device(new.name)? {
            return Err(RegistryError::DuplicateName {
                name: new.name.to_owned(),
                status: existing.status,
            });
        }
        let kid = self.next_kid()?;
        let mut buf = [0u8; 256];
        let ccs = Ccs {
            subject: Some(new.name),
            key: CoseKey {
                key_type: new.key_type,
                kid: Some(&kid),
                x: new.public_key,
                y: new.public_key_y.map(<[u8; 32]>::as_slice),
            },
        };
        let n = ccs
            .encode(&mut buf)
            .map_err(|e| self.corrupt(format!("cannot encode the device credential: {e}")))?;
        let credential = buf[..n].to_vec();
        let now = SystemTime::now();
        let inserted = self.conn.execute(
            "INSERT INTO devices (name, kid, suite, method, credential, status, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'active', ?6)",
            params![
                new.name,
                kid,
                suite_id,
                new.method.id(),
                credential,
                timestamp::format_millis(now)
            ],
        );
        match inserted {
            Ok(_) => {}
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == ErrorCode::ConstraintViolation =>
            {
                return Err(RegistryError::DuplicateName {
                    name: new.name.to_owned(),
                    status: DeviceStatus::Active,
                })
            }
            Err(source) => return Err(self.db(source)),
        }
        self.insert_event(
            now,
            Some(new.name),
            event_kind::DEVICE_ADDED,
            &format!(
                "registered with kid h'{}', suite {suite_id}, method {}",
                hex(&kid),
                new.method.id()
            ),
            None,
        )?;
        tx.commit().map_err(|source| self.db(source))?;
        tracing::info!(device = new.name, kid = %hex(&kid), suite = suite_id, "device registered");
        // Read back what was stored, so that the times are the stored (millisecond) ones.
        self.device(new.name)?
            .ok_or_else(|| self.corrupt(format!("device {:?} vanished after insert", new.name)))
    }

    /// Starts a write transaction now (taking the write lock, waiting up to [`BUSY_TIMEOUT`]),
    /// so that what it reads cannot change before it commits. It rolls back when dropped.
    fn begin_immediate(&self) -> Result<Transaction<'_>, RegistryError> {
        Transaction::new_unchecked(&self.conn, rusqlite::TransactionBehavior::Immediate)
            .map_err(|source| self.db(source))
    }

    /// The first kid in allocation order that no device has.
    fn next_kid(&self) -> Result<Vec<u8>, RegistryError> {
        let mut stmt = self
            .conn
            .prepare("SELECT kid FROM devices")
            .map_err(|source| self.db(source))?;
        let taken = stmt
            .query_map([], |row| row.get::<_, Vec<u8>>(0))
            .and_then(|rows| rows.collect::<Result<HashSet<_>, _>>())
            .map_err(|source| self.db(source))?;
        kid_order()
            .find(|kid| !taken.contains(kid))
            .ok_or_else(|| RegistryError::KidsExhausted {
                path: self.path.clone(),
            })
    }

    /// Every device, in the order they were registered.
    ///
    /// # Errors
    /// [`RegistryError::Database`] if SQLite fails, [`RegistryError::Corrupt`] if a row holds a
    /// value this version cannot read.
    pub fn list_devices(&self) -> Result<Vec<Device>, RegistryError> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {DEVICE_COLUMNS} FROM devices ORDER BY id"))
            .map_err(|source| self.db(source))?;
        let rows = stmt
            .query_map([], RawDevice::from_row)
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|source| self.db(source))?;
        rows.into_iter().map(|raw| raw.decode(self)).collect()
    }

    /// The device named `name`, if there is one.
    ///
    /// # Errors
    /// As [`list_devices`](Self::list_devices).
    pub fn device(&self, name: &str) -> Result<Option<Device>, RegistryError> {
        self.device_where("name", &name)
    }

    /// The device whose credential has this `kid`, if there is one (active or revoked: check
    /// [`Device::status`]).
    ///
    /// # Errors
    /// As [`list_devices`](Self::list_devices).
    pub fn device_by_kid(&self, kid: &[u8]) -> Result<Option<Device>, RegistryError> {
        self.device_where("kid", &kid)
    }

    fn device_where(
        &self,
        column: &str,
        value: &dyn rusqlite::ToSql,
    ) -> Result<Option<Device>, RegistryError> {
        let raw = self
            .conn
            .prepare_cached(&format!(
                "SELECT {DEVICE_COLUMNS} FROM devices WHERE {column} = ?1"
            ))
            .and_then(|mut stmt| stmt.query_row([value], RawDevice::from_row).optional())
            .map_err(|source| self.db(source))?;
        raw.map(|raw| raw.decode(self)).transpose()
    }

    /// Revokes the device named `name` and records a [`event_kind::DEVICE_REVOKED`] event. A
    /// running server refuses the device from its next message on. Returns `false` if it was
    /// already revoked (nothing changes then).
    ///
    /// # Errors
    /// [`RegistryError::UnknownDevice`] if no device has that name; [`RegistryError::Database`]
    /// if SQLite fails.
    pub fn revoke(&self, name: &str) -> Result<bool, RegistryError> {
        let tx = self.begin_immediate()?;
        let device = self
            .device(name)?
            .ok_or_else(|| RegistryError::UnknownDevice {
                name: name.to_owned(),
                path: self.path.clone(),
            })?;
        if device.status == DeviceStatus::Revoked {
            return Ok(false);
        }
        let now = SystemTime::now();
        self.conn
            .execute(
                "UPDATE devices SET status = 'revoked', revoked_at = ?2 WHERE name = ?1",
                params![name, timestamp::format_millis(now)],
            )
            .map_err(|source| self.db(source))?;
        self.insert_event(
            now,
            Some(name),
            event_kind::DEVICE_REVOKED,
            "revoked by an operator",
            None,
        )?;
        tx.commit().map_err(|source| self.db(source))?;
        tracing::info!(device = name, "device revoked");
        Ok(true)
    }

    /// Records that the device named `name` was last heard from at `now`. Returns `false` if no
    /// device has that name. Each call is a write: a busy server should call it at most every
    /// few seconds per device.
    ///
    /// # Errors
    /// [`RegistryError::Database`] if SQLite fails.
    pub fn touch(&self, name: &str, now: SystemTime) -> Result<bool, RegistryError> {
        let changed = self
            .conn
            .prepare_cached("UPDATE devices SET last_seen = ?2 WHERE name = ?1")
            .and_then(|mut stmt| stmt.execute(params![name, timestamp::format_millis(now)]))
            .map_err(|source| self.db(source))?;
        Ok(changed > 0)
    }

    /// Records a security event now; returns its id. `kind` is one of [`event_kind`] (or another
    /// short identifier), `reason` says why for people, `peer` is the remote address if any.
    ///
    /// # Errors
    /// [`RegistryError::Database`] if SQLite fails.
    pub fn record_event(
        &self,
        device: Option<&str>,
        kind: &str,
        reason: &str,
        peer: Option<&str>,
    ) -> Result<i64, RegistryError> {
        self.insert_event(SystemTime::now(), device, kind, reason, peer)
    }

    fn insert_event(
        &self,
        at: SystemTime,
        device: Option<&str>,
        kind: &str,
        reason: &str,
        peer: Option<&str>,
    ) -> Result<i64, RegistryError> {
        self.conn
            .prepare_cached(
                "INSERT INTO events (at, device, kind, reason, peer) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    timestamp::format_millis(at),
                    device,
                    kind,
                    reason,
                    peer
                ])
            })
            .map_err(|source| self.db(source))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The `limit` most recent events, newest first.
    ///
    /// # Errors
    /// [`RegistryError::Database`] if SQLite fails, [`RegistryError::Corrupt`] for an unreadable
    /// time.
    pub fn events(&self, limit: usize) -> Result<Vec<Event>, RegistryError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, at, device, kind, reason, peer FROM events ORDER BY id DESC LIMIT ?1",
            )
            .map_err(|source| self.db(source))?;
        let rows = stmt
            .query_map([limit], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, Option<String>>(5)?,
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|source| self.db(source))?;
        rows.into_iter()
            .map(|(id, at, device, kind, reason, peer)| {
                Ok(Event {
                    id,
                    at: self.time(&at)?,
                    device,
                    kind,
                    reason,
                    peer,
                })
            })
            .collect()
    }

    /// Queues a command for the device named `name`; returns its id.
    ///
    /// # Errors
    /// [`RegistryError::UnknownDevice`] if no device has that name, [`RegistryError::Revoked`]
    /// if it is revoked, [`RegistryError::Database`] if SQLite fails.
    pub fn queue_command(
        &self,
        name: &str,
        payload: &[u8],
        content_format: Option<u16>,
    ) -> Result<i64, RegistryError> {
        let tx = self.begin_immediate()?;
        let device = self
            .device(name)?
            .ok_or_else(|| RegistryError::UnknownDevice {
                name: name.to_owned(),
                path: self.path.clone(),
            })?;
        if !device.is_active() {
            return Err(RegistryError::Revoked {
                name: name.to_owned(),
            });
        }
        self.conn
            .execute(
                "INSERT INTO commands (device, payload, content_format, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    name,
                    payload,
                    content_format,
                    timestamp::format_millis(SystemTime::now())
                ],
            )
            .map_err(|source| self.db(source))?;
        let id = self.conn.last_insert_rowid();
        tx.commit().map_err(|source| self.db(source))?;
        Ok(id)
    }

    /// The commands queued for `name` and not yet delivered, oldest first.
    ///
    /// # Errors
    /// [`RegistryError::Database`] if SQLite fails, [`RegistryError::Corrupt`] for an unreadable
    /// value.
    pub fn pending_commands(&self, name: &str) -> Result<Vec<Command>, RegistryError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, device, payload, content_format, created_at, delivered_at
                 FROM commands WHERE device = ?1 AND delivered_at IS NULL ORDER BY id",
            )
            .map_err(|source| self.db(source))?;
        let rows = stmt
            .query_map([name], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Vec<u8>>(2)?,
                    row.get::<_, Option<i64>>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, Option<String>>(5)?,
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|source| self.db(source))?;
        rows.into_iter()
            .map(|(id, device, payload, format, created, delivered)| {
                let content_format = format
                    .map(|f| {
                        u16::try_from(f).map_err(|_| {
                            self.corrupt(format!("command {id} has content format {f}"))
                        })
                    })
                    .transpose()?;
                Ok(Command {
                    id,
                    device,
                    payload,
                    content_format,
                    created_at: self.time(&created)?,
                    delivered_at: delivered.map(|d| self.time(&d)).transpose()?,
                })
            })
            .collect()
    }

    /// Marks command `id` delivered now. Returns `false` if there is no such command or it was
    /// already delivered.
    ///
    /// # Errors
    /// [`RegistryError::Database`] if SQLite fails.
    pub fn mark_command_delivered(&self, id: i64) -> Result<bool, RegistryError> {
        let changed = self
            .conn
            .execute(
                "UPDATE commands SET delivered_at = ?2 WHERE id = ?1 AND delivered_at IS NULL",
                params![id, timestamp::format_millis(SystemTime::now())],
            )
            .map_err(|source| self.db(source))?;
        Ok(changed > 0)
    }

    /// SQLite's `PRAGMA data_version` for this connection: it changes whenever another
    /// connection (another process, such as `ferrule device revoke`) commits a change to the
    /// database, and not for this connection's own writes. A server polls it to know cheaply
    /// whether to reload what it caches (for example, which devices are revoked).
    ///
    /// # Errors
    /// [`RegistryError::Database`] if SQLite fails.
    pub fn data_version(&self) -> Result<i64, RegistryError> {
        self.conn
            .query_row("PRAGMA data_version", [], |row| row.get(0))
            .map_err(|source| self.db(source))
    }

    fn time(&self, text: &str) -> Result<SystemTime, RegistryError> {
        timestamp::parse(text).ok_or_else(|| self.corrupt(format!("invalid time {text:?}")))
    }
}

/// A `devices` row as stored.
struct RawDevice {
    name: String,
    kid: Vec<u8>,
    suite: i64,
    method: i64,
    credential: Vec<u8>,
    status: String,
    created_at: String,
    last_seen: Option<String>,
    revoked_at: Option<String>,
}

impl RawDevice {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            name: row.get(0)?,
            kid: row.get(1)?,
            suite: row.get(2)?,
            method: row.get(3)?,
            credential: row.get(4)?,
            status: row.get(5)?,
            created_at: row.get(6)?,
            last_seen: row.get(7)?,
            revoked_at: row.get(8)?,
        })
    }

    fn decode(self, registry: &Registry) -> Result<Device, RegistryError> {
        let name = self.name;
        let bad = |field: &str| registry.corrupt(format!("device {name:?} has an invalid {field}"));
        let method = Method::from_id(self.method).ok_or_else(|| bad("method"))?;
        let suite = i32::try_from(self.suite)
            .map(CipherSuite::from_id)
            .map_err(|_| bad("suite"))?;
        let status = DeviceStatus::parse(&self.status).ok_or_else(|| bad("status"))?;
        let time = |text: &str| timestamp::parse(text);
        let created_at = time(&self.created_at).ok_or_else(|| bad("created_at"))?;
        let last_seen = match self.last_seen {
            Some(t) => Some(time(&t).ok_or_else(|| bad("last_seen"))?),
            None => None,
        };
        let revoked_at = match self.revoked_at {
            Some(t) => Some(time(&t).ok_or_else(|| bad("revoked_at"))?),
            None => None,
        };
        Ok(Device {
            name,
            kid: self.kid,
            suite,
            method,
            credential: self.credential,
            status,
            created_at,
            last_seen,
            revoked_at,
        })
    }
}

/// Whether a one-byte kid is a one-byte CBOR integer (0..=23 or -1..=-24), so that ID_CRED_x
/// takes its compact one-byte form (RFC 9528 Section 3.5.3.2).
pub const fn is_compact_kid(kid: &[u8]) -> bool {
    matches!(kid, [0x00..=0x17 | 0x20..=0x37])
}

/// Every kid in allocation order: the 48 compact one-byte kids, then for each length from 2 to 8
/// bytes the values without a leading zero byte, ascending.
pub fn kid_order() -> impl Iterator<Item = Vec<u8>> {
    let compact = (0x00u8..=0x17).chain(0x20..=0x37).map(|b| vec![b]);
    let longer = (2usize..=8).flat_map(|len| {
        let first = 1u64 << (8 * (len - 1));
        let last = if len == 8 {
            u64::MAX
        } else {
            (1u64 << (8 * len)) - 1
        };
        (first..=last).map(move |value| value.to_be_bytes()[8 - len..].to_vec())
    });
    compact.chain(longer)
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use core::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrule_crypto::SoftwareKey;

    fn p256_device(name: &str) -> (SoftwareKey, String) {
        let key = SoftwareKey::generate_p256(&mut rand_core::OsRng).unwrap();
        (key, name.to_owned())
    }

    fn add(registry: &Registry, name: &str) -> Result<Device, RegistryError> {
        let (key, name) = p256_device(name);
        let (x, y) = (key.public_key(), key.public_key_y().unwrap());
        registry.add_device(&NewDevice {
            name: &name,
            method: Method::StaticStatic,
            suite: CipherSuite::Suite2,
            key_type: KeyType::P256,
            public_key: &x,
            public_key_y: Some(&y),
        })
    }

    fn registry() -> (tempfile::TempDir, Registry) {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::create(dir.path()).unwrap();
        (dir, registry)
    }

    #[test]
    fn kid_order_is_compact_first_then_two_bytes() {
        let order: Vec<Vec<u8>> = kid_order().take(48 + 3).collect();
        let expected_one_byte: Vec<Vec<u8>> =
            (0u8..=0x17).chain(0x20..=0x37).map(|b| vec![b]).collect();
        assert_eq!(&order[..48], expected_one_byte.as_slice());
        assert!(order[..48].iter().all(|k| is_compact_kid(k)));
        assert_eq!(order[48], [0x01, 0x00]);
        assert_eq!(order[49], [0x01, 0x01]);
        assert_eq!(order[50], [0x01, 0x02]);
        // 0x18..=0x1f and 0x38..=0xff are never used as one-byte kids.
        assert!(!order.contains(&vec![0x18]));
        assert!(!order.contains(&vec![0x38]));
        assert!(!is_compact_kid(&[0x18]) && !is_compact_kid(&[0x00, 0x01]));
        let three = kid_order().nth(48 + 0xff00).unwrap();
        assert_eq!(three, [0x01, 0x00, 0x00]);
    }

    #[test]
    fn devices_get_kids_in_order_and_revoked_kids_are_not_reused() {
        let (_dir, registry) = registry();
        let mut kids = Vec::new();
        for i in 0..50 {
            let device = add(&registry, &format!("d{i}")).unwrap();
            assert_eq!(device.status, DeviceStatus::Active);
            assert_eq!(
                Ccs::parse(&device.credential).unwrap().key.kid,
                Some(device.kid.as_slice())
            );
            kids.push(device.kid);
        }
        let expected: Vec<Vec<u8>> = kid_order().take(50).collect();
        assert_eq!(kids, expected);
        assert_eq!(kids[23], [0x17]);
        assert_eq!(kids[24], [0x20], "0x18..=0x1f are skipped");
        assert_eq!(kids[47], [0x37]);
        assert_eq!(kids[48], [0x01, 0x00], "then two-byte kids");

        assert!(registry.revoke("d0").unwrap());
        let next = add(&registry, "after-revoke").unwrap();
        assert_eq!(
            next.kid,
            [0x01, 0x02],
            "kid 0x00 of revoked d0 is not reused"
        );
        let d0 = registry.device_by_kid(&[0x00]).unwrap().unwrap();
        assert_eq!(d0.name, "d0");
        assert_eq!(d0.status, DeviceStatus::Revoked);
        assert!(d0.revoked_at.is_some());
        assert_eq!(registry.list_devices().unwrap().len(), 51);
    }

    #[test]
    fn add_rejects_bad_input() {
        let (_dir, registry) = registry();
        add(&registry, "sensor").unwrap();
        let err = add(&registry, "sensor").unwrap_err();
        assert!(matches!(err, RegistryError::DuplicateName { .. }));
        assert!(err.to_string().contains("\"sensor\" is already registered"));
        registry.revoke("sensor").unwrap();
        let err = add(&registry, "sensor").unwrap_err();
        assert!(err.to_string().contains("(revoked)"), "{err}");

        let err = add(&registry, "no/slash").unwrap_err();
        assert!(matches!(err, RegistryError::InvalidName { .. }));

        let x = [9u8; 32];
        let mut new = NewDevice {
            name: "x",
            method: Method::StaticStatic,
            suite: CipherSuite::Unknown(7),
            key_type: KeyType::X25519,
            public_key: &x,
            public_key_y: None,
        };
        assert!(matches!(
            registry.add_device(&new),
            Err(RegistryError::UnsupportedSuite { suite: 7 })
        ));
        new.suite = CipherSuite::Suite2;
        assert!(matches!(
            registry.add_device(&new),
            Err(RegistryError::WrongKeyType {
                expected: KeyType::P256,
                ..
            })
        ));
        new.suite = CipherSuite::Suite0;
        let device = registry.add_device(&new).unwrap();
        assert_eq!(device.suite, CipherSuite::Suite0);
        assert_eq!(device.kid, [0x01], "kid 0x00 went to the revoked sensor");
        new.name = "signer";
        new.method = Method::SignSign;
        assert!(
            registry.add_device(&new).is_err(),
            "method 0 signs: Ed25519"
        );
        new.key_type = KeyType::Ed25519;
        registry.add_device(&new).unwrap();
    }

    #[test]
    fn revoke_records_an_event_and_is_idempotent() {
        let (_dir, registry) = registry();
        add(&registry, "a").unwrap();
        assert!(registry.revoke("a").unwrap());
        assert!(!registry.revoke("a").unwrap());
        let err = registry.revoke("nobody").unwrap_err();
        assert!(
            err.to_string().contains("no device named \"nobody\""),
            "{err}"
        );
        let events = registry.events(10).unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [event_kind::DEVICE_REVOKED, event_kind::DEVICE_ADDED]
        );
        assert_eq!(events[0].device.as_deref(), Some("a"));
        assert_eq!(registry.events(1).unwrap().len(), 1);

        let id = registry
            .record_event(
                None,
                event_kind::UNKNOWN_KID,
                "kid h'42'",
                Some("127.0.0.1:5683"),
            )
            .unwrap();
        let latest = &registry.events(1).unwrap()[0];
        assert_eq!(latest.id, id);
        assert_eq!(latest.peer.as_deref(), Some("127.0.0.1:5683"));
        assert_eq!(latest.device, None);
    }

    #[test]
    fn touch_sets_last_seen() {
        let (_dir, registry) = registry();
        add(&registry, "a").unwrap();
        assert_eq!(registry.device("a").unwrap().unwrap().last_seen, None);
        let now = std::time::UNIX_EPOCH + Duration::from_millis(1_750_000_000_250);
        assert!(registry.touch("a", now).unwrap());
        assert_eq!(registry.device("a").unwrap().unwrap().last_seen, Some(now));
        assert!(!registry.touch("b", now).unwrap());
    }

    #[test]
    fn commands_queue_in_order() {
        let (_dir, registry) = registry();
        add(&registry, "a").unwrap();
        add(&registry, "b").unwrap();
        let first = registry.queue_command("a", b"reboot", None).unwrap();
        let second = registry.queue_command("a", &[0xa0], Some(60)).unwrap();
        registry.queue_command("b", b"other", None).unwrap();
        let pending = registry.pending_commands("a").unwrap();
        assert_eq!(
            pending.iter().map(|c| c.id).collect::<Vec<_>>(),
            [first, second]
        );
        assert_eq!(pending[0].payload, b"reboot");
        assert_eq!(pending[1].content_format, Some(60));
        assert!(registry.mark_command_delivered(first).unwrap());
        assert!(!registry.mark_command_delivered(first).unwrap());
        assert!(!registry.mark_command_delivered(9999).unwrap());
        let pending = registry.pending_commands("a").unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].id, second);
        assert!(registry.pending_commands("nobody").unwrap().is_empty());
        assert!(matches!(
            registry.queue_command("nobody", b"x", None),
            Err(RegistryError::UnknownDevice { .. })
        ));
        registry.revoke("b").unwrap();
        assert!(matches!(
            registry.queue_command("b", b"x", None),
            Err(RegistryError::Revoked { .. })
        ));
    }

    #[test]
    fn data_version_sees_another_connections_writes() {
        let (dir, server) = registry();
        add(&server, "a").unwrap();
        let before = server.data_version().unwrap();
        // The server's own writes do not change its data_version.
        server.touch("a", SystemTime::now()).unwrap();
        assert_eq!(server.data_version().unwrap(), before);
        // Another connection's do (as `ferrule device revoke` in another process).
        let cli = Registry::open(dir.path()).unwrap();
        assert!(cli.revoke("a").unwrap());
        let after = server.data_version().unwrap();
        assert_ne!(after, before);
        assert_eq!(
            server.device("a").unwrap().unwrap().status,
            DeviceStatus::Revoked
        );
        assert_eq!(
            server.data_version().unwrap(),
            after,
            "stable until the next write"
        );
    }

    #[test]
    fn open_requires_an_existing_registry() {
        let dir = tempfile::tempdir().unwrap();
        let err = Registry::open(dir.path()).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("registry.sqlite not found"), "{message}");
        assert!(message.contains("ferrule init --dir"), "{message}");
        // create is idempotent and keeps the devices.
        let registry = Registry::create(dir.path()).unwrap();
        add(&registry, "kept").unwrap();
        drop(registry);
        let registry = Registry::create(dir.path()).unwrap();
        assert!(registry.device("kept").unwrap().is_some());
        let mode: String = registry
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        // A SQLite file that is not a registry.
        let other = tempfile::tempdir().unwrap();
        Connection::open(other.path().join("registry.sqlite"))
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let err = Registry::open(other.path()).unwrap_err();
        assert!(
            err.to_string().contains("not a ferrule device registry"),
            "{err}"
        );
    }

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(hex(&[0x00, 0xab, 0x10]), "00ab10");
        assert_eq!(hex(&[]), "");
    }
}
