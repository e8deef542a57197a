{{/* The chart name, or nameOverride. */}}
{{- define "interplay.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The prefix of every resource name: fullnameOverride, or the release name plus the chart name unless it already contains it. */}}
{{- define "interplay.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The chart label value: name-version. */}}
{{- define "interplay.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every resource. */}}
{{- define "interplay.labels" -}}
helm.sh/chart: {{ include "interplay.chart" . }}
{{ include "interplay.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: interplay
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels that select the release's pods; never change them after a release exists. */}}
{{- define "interplay.selectorLabels" -}}
app.kubernetes.io/name: {{ include "interplay.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Selector labels of one domain's pods (all roles); takes (dict "root" $ "domain" $name). */}}
{{- define "interplay.domainSelectorLabels" -}}
{{ include "interplay.selectorLabels" .root }}
app.kubernetes.io/component: {{ .domain }}
{{- end -}}

{{/* Selector labels of one domain role's pods; takes (dict "root" $ "domain" $name "role" $role). */}}
{{- define "interplay.roleSelectorLabels" -}}
{{ include "interplay.domainSelectorLabels" . }}
interplay.dev/role: {{ .role }}
{{- end -}}

{{/* Name of a domain's resources: <fullname>-<domain>; takes (dict "root" $ "domain" $name). */}}
{{- define "interplay.domainName" -}}
{{- printf "%s-%s" (include "interplay.fullname" .root) .domain | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of a role's Deployment: <fullname>-<domain>, plus -<role> (order_book as order-book) unless the role is all; takes (dict "root" $ "domain" $name "role" $role). */}}
{{- define "interplay.roleName" -}}
{{- if eq .role "all" -}}
{{- include "interplay.domainName" . -}}
{{- else -}}
{{- printf "%s-%s" (include "interplay.domainName" .) (.role | replace "_" "-") | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The container arguments of a role, after the image's ENTRYPOINT `interplay`; takes (dict "domain" $name "role" $role). */}}
{{- define "interplay.roleArgs" -}}
{{- if eq .role "all" -}}
{{- list "run" .domain | toJson -}}
{{- else -}}
{{- list "run" .domain "--role" .role | toJson -}}
{{- end -}}
{{- end -}}

{{/* The environment variable that sets a domain's pattern: INTERPLAY_<DOMAIN>_PATTERN. */}}
{{- define "interplay.patternVariable" -}}
{{- printf "INTERPLAY_%s_PATTERN" (. | upper | replace "-" "_") -}}
{{- end -}}

{{/* The image reference: repository@digest, or repository:tag (appVersion when the tag is empty). */}}
{{- define "interplay.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Name of the ServiceAccount the domain pods run as. */}}
{{- define "interplay.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "interplay.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Name of the Secret the chart creates for the broker URL (and the bundled RabbitMQ's password). */}}
{{- define "interplay.brokerSecretName" -}}
{{- printf "%s-broker" (include "interplay.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Whether the chart creates the broker Secret: with the bundled RabbitMQ or a broker.url. */}}
{{- define "interplay.createsBrokerSecret" -}}
{{- if or .Values.rabbitmq.enabled (and .Values.broker.url (not .Values.broker.existingSecret)) -}}true{{- end -}}
{{- end -}}

{{/* The Secret a domain reads its AMQP URL from; takes (dict "root" $ "settings" $domainValues). */}}
{{- define "interplay.domainBrokerSecretName" -}}
{{- if .settings.brokerSecret -}}
{{- .settings.brokerSecret -}}
{{- else if .root.Values.broker.existingSecret -}}
{{- .root.Values.broker.existingSecret -}}
{{- else -}}
{{- include "interplay.brokerSecretName" .root -}}
{{- end -}}
{{- end -}}

{{/* Name of the bundled RabbitMQ's StatefulSet and Services. */}}
{{- define "interplay.rabbitmq.fullname" -}}
{{- printf "%s-rabbitmq" (include "interplay.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of the bundled RabbitMQ pod. */}}
{{- define "interplay.rabbitmq.selectorLabels" -}}
{{ include "interplay.selectorLabels" . }}
app.kubernetes.io/component: rabbitmq
{{- end -}}

{{/* The bundled RabbitMQ password: the value, else the one already stored in the cluster, else a new random one. */}}
{{- define "interplay.rabbitmq.password" -}}
{{- if .Values.rabbitmq.auth.password -}}
{{- .Values.rabbitmq.auth.password -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "interplay.brokerSecretName" .) -}}
{{- if and $existing (index $existing.data "rabbitmq-password") -}}
{{- index $existing.data "rabbitmq-password" | b64dec -}}
{{- else -}}
{{- randAlphaNum 32 -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The enabled domains, as a sorted list of names. */}}
{{- define "interplay.enabledDomains" -}}
{{- $enabled := list -}}
{{- range $name, $settings := .Values.domains -}}
{{- if $settings.enabled -}}
{{- $enabled = append $enabled $name -}}
{{- end -}}
{{- end -}}
{{- $enabled | sortAlpha | toJson -}}
{{- end -}}

{{/* Fails the render with the fix to apply when values contradict each other or miss something. */}}
{{- define "interplay.validateValues" -}}
{{- $errors := list -}}
{{- if and .Values.rabbitmq.enabled .Values.broker.existingSecret -}}
{{- $errors = append $errors "rabbitmq.enabled and broker.existingSecret are both set: use --set rabbitmq.enabled=false to connect to the broker in broker.existingSecret, or unset broker.existingSecret to use the bundled RabbitMQ." -}}
{{- end -}}
{{- if and .Values.broker.url .Values.broker.existingSecret -}}
{{- $errors = append $errors "broker.url and broker.existingSecret are both set: keep broker.existingSecret (the URL stays out of your values) and unset broker.url." -}}
{{- end -}}
{{- if and .Values.rabbitmq.enabled .Values.broker.url -}}
{{- $errors = append $errors "rabbitmq.enabled and broker.url are both set: use --set rabbitmq.enabled=false to connect to broker.url, or unset broker.url to use the bundled RabbitMQ." -}}
{{- end -}}
{{- if not (or .Values.rabbitmq.enabled .Values.broker.existingSecret .Values.broker.url) -}}
{{- range $name, $settings := .Values.domains -}}
{{- if and $settings.enabled (not $settings.brokerSecret) -}}
{{- $errors = append $errors (printf "domain %s has no broker: create a Secret with key %s holding the AMQP URL and set broker.existingSecret (or domains.%s.brokerSecret), or set broker.url to try it out, or rabbitmq.enabled=true." $name $.Values.broker.existingSecretKey $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if not (fromJsonArray (include "interplay.enabledDomains" .)) -}}
{{- $errors = append $errors "no domain is enabled: set domains.<name>.enabled=true for at least one domain." -}}
{{- end -}}
{{- range $name, $settings := .Values.domains -}}
{{- if not (has ($settings.pattern | default $.Values.pattern) (list "orchestration" "choreography")) -}}
{{- $errors = append $errors (printf "domains.%s.pattern is %q: set it to orchestration or choreography." $name $settings.pattern) -}}
{{- end -}}
{{- if and (has "orchestrator" $settings.roles) (eq ($settings.pattern | default $.Values.pattern) "choreography") -}}
{{- $errors = append $errors (printf "domains.%s.roles lists orchestrator but the domain is choreographed, so it has no orchestrator: remove orchestrator from domains.%s.roles, or set domains.%s.pattern=orchestration." $name $name $name) -}}
{{- end -}}
{{- if and (has "all" $settings.roles) (gt (len $settings.roles) 1) -}}
{{- $errors = append $errors (printf "domains.%s.roles lists all next to %s: role all already runs every part of the domain; keep [all] or list only the split roles." $name (without $settings.roles "all" | join ", ")) -}}
{{- end -}}
{{- end -}}
{{- if not (has .Values.pattern (list "orchestration" "choreography")) -}}
{{- $errors = append $errors (printf "pattern is %q: set it to orchestration or choreography." .Values.pattern) -}}
{{- end -}}
{{- if $errors -}}
{{- printf "\n\nVALUES NEED A FIX:\n  - %s" ($errors | join "\n  - ") | fail -}}
{{- end -}}
{{- end -}}
