{{/*
Names, labels and the values every template derives from.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "apogee-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object's name: fullnameOverride, else <release>-<chart>, or the release
name alone when it already holds the chart name. 63 characters at most (DNS label).
*/}}
{{- define "apogee-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* chart-version, for the helm.sh/chart label. */}}
{{- define "apogee-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the operator pods; fixed for the release's lifetime. */}}
{{- define "apogee-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "apogee-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/* Labels of every object the chart creates. */}}
{{- define "apogee-operator.labels" -}}
helm.sh/chart: {{ include "apogee-operator.chart" . }}
{{ include "apogee-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: apogee
{{- end }}

{{/* The ServiceAccount the operator runs as. */}}
{{- define "apogee-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "apogee-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name must name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The operator image: repository:tag, the tag defaulting to the chart's appVersion. */}}
{{- define "apogee-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Lease the operator replicas elect a leader with (release namespace). */}}
{{- define "apogee-operator.leaseName" -}}
{{- printf "%s-apogee-operator" .Release.Name }}
{{- end }}

{{/*
The namespaces the operator watches, checked against the RBAC scope: a namespace-scoped
install grants nothing outside watchNamespaces, so it must list some. (values.schema.json
says the same; this message also covers --skip-schema-validation.)
*/}}
{{- define "apogee-operator.watchNamespaces" -}}
{{- if and (eq .Values.rbac.scope "Namespace") (empty .Values.watchNamespaces) }}
{{- fail "rbac.scope Namespace grants access only in watchNamespaces: list at least one namespace (or use rbac.scope Cluster to watch every namespace)" }}
{{- end }}
{{- join "," .Values.watchNamespaces }}
{{- end }}

{{/*
The namespaceSelector of the broker monitors: the watched namespaces, or every namespace when
the operator watches them all.
*/}}
{{- define "apogee-operator.brokerNamespaceSelector" -}}
{{- if .Values.watchNamespaces }}
matchNames:
{{- range .Values.watchNamespaces }}
  - {{ . | quote }}
{{- end }}
{{- else }}
any: true
{{- end }}
{{- end }}

{{/*
Labels every broker pod and broker headless Service carries, whatever its cluster (the
operator's operator/src/desired/labels.rs).
*/}}
{{- define "apogee-operator.brokerSelector" -}}
matchLabels:
  app.kubernetes.io/name: rocketmq
  app.kubernetes.io/component: broker
  app.kubernetes.io/managed-by: apogee-operator
{{- end }}

{{/*
Relabelings shared by the broker monitors: a fixed job label (what the alerts and the
dashboard select), and the RocketMQCluster's name and the broker group from the pod's labels.
The samples carry `cluster` and `broker` themselves, but `up` has target labels only, and a
broker that is down must still say which cluster and group it belongs to. Other names than
the samples' own, so Prometheus does not rename those to exported_*.
*/}}
{{- define "apogee-operator.brokerRelabelings" -}}
- action: replace
  targetLabel: job
  replacement: {{ .Values.monitoring.brokers.jobLabel | quote }}
- action: replace
  sourceLabels: [__meta_kubernetes_pod_label_app_kubernetes_io_instance]
  targetLabel: rocketmq_cluster
- action: replace
  sourceLabels: [__meta_kubernetes_pod_label_rocketmq_apogee_dev_broker_group]
  targetLabel: broker_group
{{- end }}
