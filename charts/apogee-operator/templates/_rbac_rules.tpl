{{/*
What the operator may do with the objects of the namespaces it watches: the same rules go
into the ClusterRole (rbac.scope Cluster) or into one Role per watched namespace (Namespace).
Each verb is one the reconciler uses; nothing is granted "just in case".
*/}}
{{- define "apogee-operator.namespacedRules" -}}
# The resource itself: read and watch it, patch its finalizer and annotations.
- apiGroups: ["rocketmq.apogee.dev"]
  resources: ["rocketmqclusters"]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["rocketmq.apogee.dev"]
  resources: ["rocketmqclusters/status"]
  verbs: ["get", "patch", "update"]
# Owner references with blockOwnerDeletion need update on the owner's finalizers.
- apiGroups: ["rocketmq.apogee.dev"]
  resources: ["rocketmqclusters/finalizers"]
  verbs: ["update"]
# What a cluster becomes: NameServer Deployment, broker StatefulSets, Services, ConfigMaps
# (namesrv.conf, broker.conf) and PodDisruptionBudgets, applied server-side.
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
- apiGroups: [""]
  resources: ["services", "configmaps"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
# Pods are observed for status and deleted one at a time for ordered broker restarts.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch", "delete"]
# Broker volumes: grown when spec.broker.storage.size grows, deleted with deleteClaim.
- apiGroups: [""]
  resources: ["persistentvolumeclaims"]
  verbs: ["get", "list", "watch", "patch", "delete"]
# spec.metrics.serviceMonitor / podMonitor: prometheus-operator monitors of a cluster's
# brokers, applied server-side and deleted when no longer asked for.
- apiGroups: ["monitoring.coreos.com"]
  resources: ["servicemonitors", "podmonitors"]
  verbs: ["get", "create", "patch", "delete"]
# Events naming the reason of each restart, refusal or failure.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
