{{/*
Chart name (app.kubernetes.io/name), truncated to 63 characters (the label value limit).
*/}}
{{- define "claude-in-a-box.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Object name prefix. Unlike `helm create`, it is the release name itself: the release is the
agent's identity, so `helm install claude-agent` gives the StatefulSet claude-agent and the pod
claude-agent-0, as the raw manifests do. Truncated to 52 characters so that the longest derived
name (the PVC claude-state-<fullname>-0 carries a 63-character label) still fits.
*/}}
{{- define "claude-in-a-box.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- end }}

{{/*
Chart name and version for the helm.sh/chart label.
*/}}
{{- define "claude-in-a-box.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: name and instance only, never user labels (selectors are immutable).
*/}}
{{- define "claude-in-a-box.selectorLabels" -}}
app.kubernetes.io/name: {{ include "claude-in-a-box.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of the pod template and the volumeClaimTemplate: stable across releases (no chart or
version label), so a chart bump neither rolls the pod nor touches the immutable claim template.
*/}}
{{- define "claude-in-a-box.templateLabels" -}}
{{ include "claude-in-a-box.selectorLabels" . }}
app.kubernetes.io/part-of: claude-in-a-box
{{- end }}

{{/*
Labels on every object's metadata.
*/}}
{{- define "claude-in-a-box.labels" -}}
helm.sh/chart: {{ include "claude-in-a-box.chart" . }}
{{ include "claude-in-a-box.templateLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Name of the ServiceAccount the agent runs as.
*/}}
{{- define "claude-in-a-box.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "claude-in-a-box.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference: [registry/]repository:tag, the tag defaulting to the chart's appVersion; a
digest, when set, wins over the tag.
*/}}
{{- define "claude-in-a-box.image" -}}
{{- $repository := .Values.image.repository }}
{{- if .Values.image.registry }}
{{- $repository = printf "%s/%s" .Values.image.registry .Values.image.repository }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Name of the Secret mounted at /etc/claude-in-a-box/auth.
*/}}
{{- define "claude-in-a-box.authSecretName" -}}
{{- default (printf "%s-auth" (include "claude-in-a-box.fullname" .)) .Values.auth.existingSecret }}
{{- end }}

{{/*
Namespaces that get the Roles when rbac.scope is namespace (default: the release namespace).
Returns a YAML list; use with fromYamlArray.
*/}}
{{- define "claude-in-a-box.rbacNamespaces" -}}
{{- toYaml (default (list .Release.Namespace) .Values.rbac.namespaces) }}
{{- end }}

{{/*
Rules of the read-only tier: get/list/watch, never Secrets, never a wildcard. Pass a dict with
"cluster" true for the ClusterRole: it adds the cluster-scoped resources and the self reviews.
*/}}
{{- define "claude-in-a-box.readerRules" -}}
- apiGroups: [""]
  resources:
    - configmaps
    - endpoints
    - events
    {{- if .cluster }}
    - namespaces
    - nodes
    {{- end }}
    - persistentvolumeclaims
    {{- if .cluster }}
    - persistentvolumes
    {{- end }}
    - pods
    - pods/log
    - services
  verbs: [get, list, watch]
- apiGroups: [apps]
  resources: [daemonsets, deployments, replicasets, statefulsets]
  verbs: [get, list, watch]
- apiGroups: [batch]
  resources: [cronjobs, jobs]
  verbs: [get, list, watch]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list, watch]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [ingresses, networkpolicies]
  verbs: [get, list, watch]
{{- if .cluster }}
- apiGroups: [storage.k8s.io]
  resources: [storageclasses]
  verbs: [get, list, watch]
- apiGroups: [authorization.k8s.io]
  resources: [selfsubjectaccessreviews, selfsubjectrulesreviews]
  verbs: [create]
{{- end }}
{{- end }}

{{/*
Rules of the operator tier, added to the read-only ones: delete pods, exec into pods (create,
and get for kubectl's WebSocket exec), get/patch/update Deployments and StatefulSets (rollout
restart). Nothing cluster-admin, no wildcard.
*/}}
{{- define "claude-in-a-box.operatorRules" -}}
- apiGroups: [""]
  resources: [pods]
  verbs: [delete]
- apiGroups: [""]
  resources: [pods/exec]
  verbs: [create, get]
- apiGroups: [apps]
  resources: [deployments, statefulsets]
  verbs: [get, patch, update]
{{- end }}
