//! The SCIM endpoint a request path addresses (RFC 7644 §3.2), as a bounded metric label.
//! Classification looks at the path after the tenant's route; it never returns an id.

/// The endpoint family of a request; its `label()` is the `resource` metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resource {
    Users,
    Groups,
    Bulk,
    Search,
    Schemas,
    ResourceTypes,
    ServiceProviderConfig,
    Me,
    #[default]
    Other,
}

impl Resource {
    /// Classify a path relative to the tenant route, e.g. `/Users/2819c223` or `/.search`.
    pub fn classify(rest: &str) -> Resource {
        // Split as bytes: `/` is ASCII, and `str`'s character searcher costs more on a path
        // this short.
        let mut segments = rest
            .as_bytes()
            .split(|&b| b == b'/')
            .filter(|s| !s.is_empty());
        let first = segments.next().unwrap_or_default();
        let second = segments.next();
        if second.is_some_and(|s| s.eq_ignore_ascii_case(b".search")) && segments.next().is_none() {
            return Resource::Search;
        }
        const NAMES: [(&str, Resource); 8] = [
            ("Users", Resource::Users),
            ("Groups", Resource::Groups),
            ("Bulk", Resource::Bulk),
            (".search", Resource::Search),
            ("Schemas", Resource::Schemas),
            ("ResourceTypes", Resource::ResourceTypes),
            ("ServiceProviderConfig", Resource::ServiceProviderConfig),
            ("Me", Resource::Me),
        ];
        NAMES
            .iter()
            .find(|(name, _)| first.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, r)| *r)
            .unwrap_or(Resource::Other)
    }

    pub fn label(self) -> &'static str {
        match self {
            Resource::Users => "Users",
            Resource::Groups => "Groups",
            Resource::Bulk => "Bulk",
            Resource::Search => "Search",
            Resource::Schemas => "Schemas",
            Resource::ResourceTypes => "ResourceTypes",
            Resource::ServiceProviderConfig => "ServiceProviderConfig",
            Resource::Me => "Me",
            Resource::Other => "other",
        }
    }

    /// Is this the first path segment of a SCIM endpoint? (Used to reject routes that would
    /// steal another tenant's endpoints.)
    pub fn is_endpoint_segment(segment: &str) -> bool {
        Resource::classify(segment) != Resource::Other
    }
}

#[cfg(test)]
mod tests {
    use super::Resource::{self, *};

    #[test]
    fn classifies_every_endpoint() {
        let cases = [
            ("/Users", Users),
            ("/Users/2819c223-7f76", Users),
            ("/users", Users),
            ("/Groups/abc", Groups),
            ("/Bulk", Bulk),
            ("/.search", Search),
            ("/Users/.search", Search),
            ("/Groups/.search", Search),
            (
                "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
                Schemas,
            ),
            ("/ResourceTypes", ResourceTypes),
            ("/ServiceProviderConfig", ServiceProviderConfig),
            ("/Me", Me),
            ("", Other),
            ("/", Other),
            ("/whatever/x", Other),
        ];
        for (path, want) in cases {
            assert_eq!(Resource::classify(path), want, "{path}");
        }
    }

    #[test]
    fn a_user_id_called_search_is_not_a_search() {
        assert_eq!(Resource::classify("/Users/.search/x"), Users);
    }
}
