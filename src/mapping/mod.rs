//! The translation engine: a tenant's `[[map]]`, `[[drop]]`, `[[set]]`, `[[transform]]` and
//! `[nulls]` rules, compiled once when the policy loads ([`rules`]), applied per request.
//!
//! Requests: POST/PUT bodies ([`resource`]), PATCH operations ([`patch`]), Bulk operations
//! ([`bulk`]), `filter`/`attributes`/`excludedAttributes`/`sortBy` and `/.search` bodies
//! ([`query`]). Responses: resources, `ListResponse.Resources` and `BulkResponse` mapped back
//! so the IdP sees its own names ([`translate::response`]). A tenant without rules is never
//! parsed: [`rules::Rules::is_empty`] short-cuts everything.

pub mod bulk;
pub mod partial;
pub mod patch;
pub mod query;
pub mod resource;
pub mod rules;
pub mod translate;

pub use rules::{Kind, Rules};

/// How many rules of each kind one request applied (`scimgate_rules_applied_total`), and what
/// the IdP dialect or target profile changed (for the request's debug log line).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    pub map: u32,
    pub drop: u32,
    pub set: u32,
    pub transform: u32,
    pub null: u32,
    pub dialect: u32,
    /// One short note per kind of dialect/profile change.
    pub notes: Vec<&'static str>,
}

impl Stats {
    /// Add what `other` counted.
    pub fn absorb(&mut self, other: Stats) {
        self.map += other.map;
        self.drop += other.drop;
        self.set += other.set;
        self.transform += other.transform;
        self.null += other.null;
        self.dialect += other.dialect;
        self.notes.extend(other.notes);
    }

    pub fn total(&self) -> u32 {
        self.map + self.drop + self.set + self.transform + self.null + self.dialect
    }

    /// `(kind label, count)` pairs, for the metric.
    pub fn by_kind(&self) -> [(&'static str, u32); 6] {
        [
            ("map", self.map),
            ("drop", self.drop),
            ("set", self.set),
            ("transform", self.transform),
            ("null", self.null),
            ("dialect", self.dialect),
        ]
    }
}
