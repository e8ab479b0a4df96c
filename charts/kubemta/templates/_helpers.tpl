{{/* The chart's name, for labels. */}}
{{- define "kubemta.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>, or <release>-kubemta when the release name does not hold the chart's name. */}}
{{- define "kubemta.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 54 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "kubemta.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 54 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 54 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The operator's objects: ServiceAccount, ClusterRole, bindings, Deployment, Service
     (release "kubemta" → kubemta-operator, the names in operator/rbac/rbac.yaml). */}}
{{- define "kubemta.operatorName" -}}
{{- printf "%s-operator" (include "kubemta.fullname" .) -}}
{{- end -}}

{{/* Selector labels. app.kubernetes.io/name is kubemta-operator, not kubemta: relay pods carry
     name=kubemta, instance=<MailServer>, and a MailServer named like the release must not select the operator. */}}
{{- define "kubemta.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubemta.name" . }}-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kubemta.labels" -}}
{{ include "kubemta.selectorLabels" . }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: kubemta
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "kubemta.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The rules of one object in files/rbac.yaml (a copy of operator/rbac/rbac.yaml, the single source;
     deploy/generate.ts copies it and charts/chart.test.ts fails on drift). Argument: (list $ "ClusterRole"). */}}
{{- define "kubemta.rbacRules" -}}
{{- $root := index . 0 -}}
{{- $kind := index . 1 -}}
{{- $rules := list -}}
{{- range $doc := regexSplit "(?m)^---\\s*$" ($root.Files.Get "files/rbac.yaml") -1 -}}
{{- $o := fromYaml $doc -}}
{{- if eq (toString (get $o "kind")) $kind -}}
{{- $rules = get $o "rules" -}}
{{- end -}}
{{- end -}}
{{- if not $rules -}}
{{- fail (printf "files/rbac.yaml has no %s with rules (run: node deploy/generate.ts)" $kind) -}}
{{- end -}}
{{- toYaml $rules -}}
{{- end -}}
