//! Creating and deleting an instance's objects, idempotently, so any number of orchestrator
//! replicas (or a restarted one) converge on the same set.
//!
//! - Immutable objects — the volume, the token secret, pods — are *created if absent*: a
//!   second creator gets `409 AlreadyExists` and uses what is there (the same tokens, the same
//!   pod). Server-side apply would fight over their immutable fields instead.
//! - The network policy is *server-side applied* with the field manager `ocaas` (forced), so
//!   any drift (an edit, a deletion) is undone on the next reconcile.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use uuid::Uuid;

use super::error::{KubeError, api_code};
use super::manifests::{
    AGENT_TOKEN_KEY, GENERATION_ANNOTATION, INSTANCE_LABEL, MANAGED_SELECTOR, MANAGER,
    MODEL_TOKEN_KEY, MOVING_LABEL, Manifests, POOL_LABEL, POOL_SELECTOR, SERVES_LABEL, Tokens,
    is_pooled, policy_name, pooled, secret_name, storage_name,
};
use super::model_endpoint::ModelTokens;

/// Where an instance's files are (see [`Objects::storages`]).
pub struct Storages {
    /// The storage id serving the instance now.
    pub current: Uuid,
    /// How many moves made `current` (0: the instance's own volume).
    pub generation: u64,
    /// Other storage ids of the instance: garbage.
    pub stale: Vec<Uuid>,
}

/// The API handles and builders for an instance's objects.
pub struct Objects {
    pub manifests: Manifests,
    pub pods: Api<Pod>,
    pub volumes: Api<PersistentVolumeClaim>,
    pub secrets: Api<Secret>,
    pub policies: Api<NetworkPolicy>,
    pub model_tokens: Arc<ModelTokens>,
    /// Storage id → the instance it serves, for ids known to serve one for good.
    pub served: Mutex<HashMap<Uuid, Uuid>>,
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

    /// The volume of a warm-pool pod started for the reserved id `instance`, created if
    /// absent, marked as pooled.
    pub async fn ensure_pooled_volume(
        &self,
        instance: Uuid,
    ) -> Result<PersistentVolumeClaim, KubeError> {
        create_if_absent(&self.volumes, &pooled(self.manifests.storage(instance))).await
    }

    /// The unclaimed warm-pool volumes, from the API (not a cache: a claim just made must
    /// not look unclaimed).
    pub async fn pooled_volumes(&self) -> Result<Vec<PersistentVolumeClaim>, KubeError> {
        let list = self
            .volumes
            .list(&ListParams::default().labels(POOL_SELECTOR))
            .await?;
        Ok(list.items)
    }

    /// The unclaimed warm-pool pods of the reserved id `instance`, from the API.
    pub async fn pooled_pods(&self, instance: Uuid) -> Result<Vec<Pod>, KubeError> {
        self.pods_with(&format!("{POOL_SELECTOR},{INSTANCE_LABEL}={instance}"))
            .await
    }

    async fn pods_with(&self, selector: &str) -> Result<Vec<Pod>, KubeError> {
        Ok(self
            .pods
            .list(&ListParams::default().labels(selector))
            .await?
            .items)
    }

    /// Claim a warm-pool pod for the instance its id was reserved for: its pod, then its
    /// volume, stop being pooled (the pod first: a volume still marked pooled is how an
    /// interrupted claim is found and finished).
    pub async fn unpool(&self, instance: Uuid, pod: &Pod) -> Result<(), KubeError> {
        self.unpool_pod(instance, pod, None).await?;
        // The pod is the instance's now. A volume left marked is finished by the pool's
        // tending (the id is an instance), so this failing must not fail the claim.
        if let Err(e) = self.unpool_volume(instance).await {
            tracing::warn!(%instance, error = %e, "could not unmark a claimed pod's volume; the pool's tending will");
        }
        Ok(())
    }

    /// The warm-pool pod of the reserved id `reserved` stops being pooled (and, for a wake,
    /// is marked as `moving` that instance in). The patch carries the resource version of a
    /// pod seen still pooled, so of two claims of one pod only one succeeds; `pod` is as the
    /// watch last saw it, and a newer version (a status update) is read and checked once.
    pub async fn unpool_pod(
        &self,
        reserved: Uuid,
        pod: &Pod,
        moving: Option<Uuid>,
    ) -> Result<(), KubeError> {
        let patch = |pod: &Pod| {
            let body = serde_json::json!({"metadata": {
                "labels": {POOL_LABEL: null, MOVING_LABEL: moving.map(|i| i.to_string())},
                "resourceVersion": pod.metadata.resource_version,
            }});
            let name = pod.name_any();
            async move {
                self.pods
                    .patch(&name, &PatchParams::default(), &Patch::Merge(body))
                    .await
            }
        };
        match patch(pod).await {
            Ok(_) => Ok(()),
            Err(e) if api_code(&e) == Some(409) => {
                let fresh = self.pods.get(&pod.name_any()).await?;
                if !is_pooled(&fresh)
                    || fresh.labels().get(INSTANCE_LABEL) != Some(&reserved.to_string())
                {
                    return Err(e.into());
                }
                patch(&fresh).await?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The commit point of a storage move: the warm-pool volume of `storage` stops being
    /// pooled and serves `instance` (generation `generation`), in one patch.
    pub async fn commit_move(
        &self,
        storage: Uuid,
        instance: Uuid,
        generation: u64,
    ) -> Result<(), KubeError> {
        let patch = serde_json::json!({"metadata": {
            "labels": {POOL_LABEL: null, SERVES_LABEL: instance.to_string()},
            "annotations": {GENERATION_ANNOTATION: generation.to_string()},
        }});
        self.volumes
            .patch(
                &storage_name(storage),
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await?;
        self.served
            .lock()
            .expect("served")
            .insert(storage, instance);
        Ok(())
    }

    /// The volumes that moved storage made serve `instance`, from the API: (storage id,
    /// generation), newest first.
    async fn serving(&self, instance: Uuid) -> Result<Vec<(Uuid, u64)>, KubeError> {
        let selector = format!("{MANAGED_SELECTOR},{SERVES_LABEL}={instance}");
        let list = self
            .volumes
            .list(&ListParams::default().labels(&selector))
            .await?;
        let mut out: Vec<(Uuid, u64)> = list
            .items
            .iter()
            .filter(|v| v.metadata.deletion_timestamp.is_none())
            .filter_map(|v| {
                let id = super::instance_of_labels(v.labels())?;
                let generation = v
                    .annotations()
                    .get(GENERATION_ANNOTATION)
                    .and_then(|g| g.parse().ok())
                    .unwrap_or(0);
                Some((id, generation))
            })
            .collect();
        out.sort_by_key(|s| std::cmp::Reverse(s.1));
        Ok(out)
    }

    /// The storages of `instance`, read fresh (another replica may have moved it since): the
    /// current one is the newest volume marked as serving it, else its own id (generation
    /// 0); the others are what a cut-short move left (older volumes serving it, and its own id
    /// once it was moved).
    pub async fn storages(&self, instance: Uuid) -> Result<Storages, KubeError> {
        let mut serving = self.serving(instance).await?.into_iter();
        let Some((current, generation)) = serving.next() else {
            return Ok(Storages {
                current: instance,
                generation: 0,
                stale: Vec::new(),
            });
        };
        let mut stale: Vec<Uuid> = serving.map(|s| s.0).collect();
        stale.push(instance);
        Ok(Storages {
            current,
            generation,
            stale,
        })
    }

    /// The instance a storage id serves: itself unless its volume is marked as serving
    /// another. An id whose volume is pooled (or gone) may still come to serve one, so only
    /// settled answers are remembered.
    pub async fn instance_served(&self, storage: Uuid) -> Uuid {
        if let Some(i) = self.served.lock().expect("served").get(&storage) {
            return *i;
        }
        let volume = match self.volumes.get_opt(&storage_name(storage)).await {
            Ok(Some(v)) => v,
            Ok(None) => return storage,
            Err(e) => {
                tracing::warn!(%storage, error = %e, "cannot read a volume's labels");
                return storage;
            }
        };
        let serves = volume
            .labels()
            .get(SERVES_LABEL)
            .and_then(|v| Uuid::parse_str(v).ok());
        let instance = match serves {
            Some(i) => i,
            None if is_pooled(&volume) => return storage,
            None => storage,
        };
        self.served
            .lock()
            .expect("served")
            .insert(storage, instance);
        instance
    }

    /// The pod of a finished move stops being marked as moving (best effort: a pod whose
    /// volume serves an instance is that instance's sandbox either way).
    pub async fn moved(&self, pod: &str) {
        let patch = serde_json::json!({"metadata": {"labels": {MOVING_LABEL: null}}});
        if let Err(e) = self
            .pods
            .patch(pod, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            tracing::warn!(pod, error = %e, "could not unmark a moved pod");
        }
    }

    /// Pods on the volume of `storage` (any role), from the API.
    pub async fn pods_on(&self, storage: Uuid) -> Result<Vec<Pod>, KubeError> {
        self.pods_with(&format!("{MANAGED_SELECTOR},{INSTANCE_LABEL}={storage}"))
            .await
    }

    /// Whether the id's volume exists and is still marked as pooled (read fresh).
    pub async fn volume_pooled(&self, instance: Uuid) -> Result<bool, KubeError> {
        Ok(self
            .volumes
            .get_opt(&storage_name(instance))
            .await?
            .is_some_and(|v| is_pooled(&v)))
    }

    /// The reserved id's volume stops being pooled (it is the instance's now).
    pub async fn unpool_volume(&self, instance: Uuid) -> Result<(), KubeError> {
        let patch = serde_json::json!({"metadata": {"labels": {POOL_LABEL: null}}});
        match self
            .volumes
            .patch(
                &storage_name(instance),
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if api_code(&e) == Some(404) => Ok(()),
            Err(e) => Err(e.into()),
        }
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
            agent: crate::crypto::random_token(),
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
