//! The operators' tools that run the gateway's own flow without the network: `scimgate test`
//! ([`policy_tests`]). `scimgate translate` is [`crate::flow::dry_run::preview`].

pub mod policy_tests;
