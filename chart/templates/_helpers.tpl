{{/* Names as KafScale's chart makes them: <release>-mcp, at most 63 characters. */}}
{{- define "kafscale-mcp.fullname" -}}
{{- if contains "mcp" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-mcp" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kafscale-mcp.namespace" -}}
{{- .Values.mcp.namespace.name | default .Release.Namespace -}}
{{- end -}}

{{- define "kafscale-mcp.selectorLabels" -}}
app.kubernetes.io/name: kafscale-mcp
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: mcp
{{- end -}}

{{- define "kafscale-mcp.labels" -}}
{{ include "kafscale-mcp.selectorLabels" . }}
app.kubernetes.io/version: {{ include "kafscale-mcp.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "kafscale-mcp.serviceAccountName" -}}
{{- if .Values.mcp.serviceAccount.create -}}
{{- .Values.mcp.serviceAccount.name | default (include "kafscale-mcp.fullname" .) -}}
{{- else -}}
{{- .Values.mcp.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- define "kafscale-mcp.imageTag" -}}
{{- if .Values.mcp.image.useLatest -}}latest{{- else -}}{{ .Values.mcp.image.tag | default .Chart.AppVersion }}{{- end -}}
{{- end -}}

{{/* The auth mode as the service will resolve it. */}}
{{- define "kafscale-mcp.authMode" -}}
{{- $auth := .Values.mcp.auth -}}
{{- if $auth.mode -}}{{ $auth.mode }}
{{- else if or $auth.token $auth.existingSecret -}}static
{{- else if $auth.oidc.issuer -}}oidc
{{- else -}}none
{{- end -}}
{{- end -}}

{{/* The Secret carrying the static token and the etcd password, when the chart makes one. */}}
{{- define "kafscale-mcp.secretName" -}}
{{- printf "%s-secrets" (include "kafscale-mcp.fullname" .) -}}
{{- end -}}

{{- define "kafscale-mcp.needsSecret" -}}
{{- if or (and .Values.mcp.auth.token (not .Values.mcp.auth.existingSecret)) (and .Values.mcp.etcd.password (not .Values.mcp.etcd.existingSecret)) (and .Values.mcp.audit.hmacKey (not .Values.mcp.audit.existingSecret)) -}}true{{- end -}}
{{- end -}}

{{- define "kafscale-mcp.policyConfigMap" -}}
{{- .Values.mcp.rbac.existingConfigMap | default (printf "%s-policy" (include "kafscale-mcp.fullname" .)) -}}
{{- end -}}

{{- define "kafscale-mcp.hasPolicy" -}}
{{- if or .Values.mcp.rbac.existingConfigMap .Values.mcp.rbac.policy -}}true{{- end -}}
{{- end -}}
