//! The route registry: every module mounts its routes through [`Api`], which records each
//! (method, path) it registers. [`super::routes()`] replays the same mounting into a throwaway
//! `App` and returns that record, so the parity test (`tests/api/openapi.rs`) compares the
//! OpenAPI spec with exactly what the server serves — there is no second list to forget.
//!
//! Two kinds of routes:
//! - [`Api::resource`]: an API resource. Each of its methods must be described in the spec, and
//!   any other method is `405 METHOD_NOT_ALLOWED` in the error envelope.
//! - [`Api::page`]: a web page or static document (the console, the vendored browser libraries,
//!   the docs UI, the agent bundle). Not part of the API, so never in the spec; the parity test
//!   holds pages to an explicit allow-list of paths, so an API route cannot hide as a page.

use actix_web::http::Method;
use actix_web::{FromRequest, Handler, Responder, web};

/// What a route is, for the parity check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Part of the API: described in the OpenAPI spec.
    Api,
    /// A page or static document: not in the spec.
    Page,
}

/// One registered (method, path): the path exactly as actix matches it (`{id}` parameters,
/// `{tail:.*}` for a page's subtree).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Registered {
    pub kind: Kind,
    pub method: String,
    pub path: String,
}

/// Routes served outside [`super::configure`]: `/metrics` is answered by the Prometheus
/// middleware that `startup.rs` wraps the app in. Listed here so the spec's parity check
/// includes them; the parity test also requests each from a running app, so this list cannot
/// claim a route that is not served.
pub const OUTSIDE: &[(&str, &str)] = &[("GET", "/metrics")];

/// Mounts routes and records them.
pub struct Api<'a> {
    cfg: &'a mut web::ServiceConfig,
    registered: Vec<Registered>,
}

impl<'a> Api<'a> {
    pub fn new(cfg: &'a mut web::ServiceConfig) -> Self {
        Api {
            cfg,
            registered: Vec::new(),
        }
    }

    /// Everything mounted so far.
    pub fn into_registered(self) -> Vec<Registered> {
        self.registered
    }

    /// Mount an API resource at `path` with the routes `build` adds; other methods are `405`.
    pub fn resource(&mut self, path: &str, build: impl FnOnce(Resource) -> Resource) {
        let resource = build(Resource {
            inner: web::resource(path),
            methods: Vec::new(),
        });
        for method in resource.methods {
            self.registered.push(Registered {
                kind: Kind::Api,
                method: method.to_string(),
                path: path.to_owned(),
            });
        }
        self.cfg.service(
            resource
                .inner
                .default_service(sandbox_agent::http::method_not_allowed()),
        );
    }

    /// Mount a page or static document (`GET` only), outside the API spec.
    pub fn page<F, Args>(&mut self, path: &str, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.registered.push(Registered {
            kind: Kind::Page,
            method: Method::GET.to_string(),
            path: path.to_owned(),
        });
        self.cfg.route(path, web::get().to(handler));
    }
}

/// An API resource being built: its routes and the methods they answer.
pub struct Resource {
    inner: actix_web::Resource,
    methods: Vec<Method>,
}

impl Resource {
    /// Answer `method` with `handler`.
    pub fn route<F, Args>(mut self, method: Method, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.inner = self.inner.route(web::method(method.clone()).to(handler));
        self.methods.push(method);
        self
    }

    pub fn get<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::GET, handler)
    }

    pub fn post<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::POST, handler)
    }

    pub fn patch<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::PATCH, handler)
    }

    pub fn delete<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(Method::DELETE, handler)
    }
}
