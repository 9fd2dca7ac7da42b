//! Creating and deleting an instance's objects, idempotently, so any number of orchestrator
//! replicas (or a restarted one) converge on the same set.
//!
//! - Immutable objects — the volume, the token secret, pods — are *created if absent*: a
//!   second creator gets `409 AlreadyExists` and uses what is there (the same tokens, the same
//!   pod). Server-side apply would fight over their immutable fields instead.
//! - The network policy is *server-side applied* with the field manager `ocaas` (forced), so
//!   any drift (an edit, a deletion) is undone on the next reconcile.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use uuid::Uuid;

use super::error::{KubeError, api_code};
use super::manifests::{
    AGENT_TOKEN_KEY, INSTANCE_LABEL, MANAGER, MODEL_TOKEN_KEY, Manifests, Tokens, policy_name,
    secret_name, storage_name,
};
use super::model_endpoint::ModelTokens;

/// The API handles and builders for an instance's objects.
pub struct Objects {
    pub manifests: Manifests,
    pub pods: Api<Pod>,
    pub volumes: Api<PersistentVolumeClaim>,
    pub secrets: Api<Secret>,
    pub policies: Api<NetworkPolicy>,
    pub model_tokens: Arc<ModelTokens>,
}

fn post() -> PostParams {
    PostParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    }
}

/// Create `obj` unless an object of that name exists; either way return what is there.
async fn create_if_absent<K>(api: &Api<K>, obj: &K) -> Result<K, KubeError>
where
    K: Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    match api.create(&post(), obj).await {
        Ok(created) => Ok(created),
        Err(e) if api_code(&e) == Some(409) => Ok(api.get(&obj.name_any()).await?),
        Err(e) => Err(e.into()),
    }
}

/// Delete; an object that is already gone is fine.
async fn delete_if_present<K>(api: &Api<K>, name: &str, dp: &DeleteParams) -> Result<(), KubeError>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, dp).await {
        Ok(_) => Ok(()),
        Err(e) if api_code(&e) == Some(404) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A reference making `volume` the owner (and garbage-collection root) of another object.
pub fn owner_of(volume: &PersistentVolumeClaim) -> Result<OwnerReference, KubeError> {
    volume
        .controller_owner_ref(&())
        .ok_or_else(|| KubeError::NoUid(volume.name_any()))
}

impl Objects {
    /// The instance's volume, created if absent.
    pub async fn ensure_volume(&self, instance: Uuid) -> Result<PersistentVolumeClaim, KubeError> {
        create_if_absent(&self.volumes, &self.manifests.storage(instance)).await
    }

    /// The instance's tokens: those in its secret, or new ones in a new secret.
    pub async fn ensure_tokens(
        &self,
        instance: Uuid,
        owner: &OwnerReference,
    ) -> Result<Tokens, KubeError> {
        // Usually it exists (every start and every reconciliation asks): one read.
        if let Some(tokens) = self.read_tokens(instance).await? {
            return Ok(tokens);
        }
        let fresh = Tokens {
            agent: new_agent_token(),
            model: self.model_tokens.mint(instance),
        };
        let secret = create_if_absent(
            &self.secrets,
            &self.manifests.secret(instance, &fresh, owner),
        )
        .await?;
        tokens_of(instance, &secret)
    }

    /// The tokens in the instance's secret, if it exists.
    pub async fn read_tokens(&self, instance: Uuid) -> Result<Option<Tokens>, KubeError> {
        match self.secrets.get_opt(&secret_name(instance)).await? {
            Some(secret) => tokens_of(instance, &secret).map(Some),
            None => Ok(None),
        }
    }

    /// Server-side apply the instance's network policy.
    pub async fn apply_policy(
        &self,
        instance: Uuid,
        owner: &OwnerReference,
    ) -> Result<(), KubeError> {
        let policy = self.manifests.network_policy(instance, owner);
        self.policies
            .patch(
                &policy_name(instance),
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&policy),
            )
            .await?;
        Ok(())
    }

    /// Create the sandbox's pod unless it exists; an existing pod must be this instance's.
    pub async fn ensure_pod(&self, instance: Uuid, pod: &Pod) -> Result<Pod, KubeError> {
        let pod = create_if_absent(&self.pods, pod).await?;
        if pod.labels().get(INSTANCE_LABEL) != Some(&instance.to_string()) {
            return Err(KubeError::ForeignPod(pod.name_any()));
        }
        Ok(pod)
    }

    pub async fn delete_pod(&self, name: &str, grace_s: Option<u32>) -> Result<(), KubeError> {
        let dp = DeleteParams {
            grace_period_seconds: grace_s,
            ..Default::default()
        };
        delete_if_present(&self.pods, name, &dp).await
    }

    /// Delete everything of the instance: pods, volume, secret, policy. The volume goes
    /// first, so the reconciler (which skips volumes being deleted) does not recreate the
    /// others; owner references let the garbage collector finish whatever is left.
    pub async fn delete_all(&self, instance: Uuid, pods: &[String]) -> Result<(), KubeError> {
        let dp = DeleteParams::default();
        for pod in pods {
            delete_if_present(&self.pods, pod, &dp).await?;
        }
        delete_if_present(&self.volumes, &storage_name(instance), &dp).await?;
        delete_if_present(&self.secrets, &secret_name(instance), &dp).await?;
        delete_if_present(&self.policies, &policy_name(instance), &dp).await
    }
}

fn tokens_of(instance: Uuid, secret: &Secret) -> Result<Tokens, KubeError> {
    let get = |key: &'static str| {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
            .filter(|s| !s.is_empty())
            .ok_or(KubeError::BadSecret(instance, key))
    };
    Ok(Tokens {
        agent: get(AGENT_TOKEN_KEY)?,
        model: get(MODEL_TOKEN_KEY)?,
    })
}

fn new_agent_token() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
