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

{{/* Where orchestrators take RPC replies: rpcReplyTo, else a queue of their own on the operator's cluster (direct reply-to there breaks a replier when the caller's node is down: docs/reliability.md). */}}
{{- define "interplay.rpcReplyTo" -}}
{{- if .Values.rpcReplyTo -}}
{{- .Values.rpcReplyTo -}}
{{- else if eq .Values.rabbitmq.mode "operator" -}}
queue
{{- else -}}
direct
{{- end -}}
{{- end -}}

{{/* An image reference with global.imageRegistry in front; takes (dict "root" $ "repository" $r "tag" $t "digest" $d). */}}
{{- define "interplay.imageReference" -}}
{{- $repository := .repository -}}
{{- with .root.Values.global.imageRegistry -}}
{{- $repository = printf "%s/%s" (trimSuffix "/" .) $repository -}}
{{- end -}}
{{- if .digest -}}
{{- printf "%s@%s" $repository .digest -}}
{{- else -}}
{{- printf "%s:%s" $repository .tag -}}
{{- end -}}
{{- end -}}

{{/* The interplay image: repository@digest, or repository:tag (appVersion when the tag is empty). */}}
{{- define "interplay.image" -}}
{{- include "interplay.imageReference" (dict "root" . "repository" .Values.image.repository "tag" (default .Chart.AppVersion .Values.image.tag) "digest" .Values.image.digest) -}}
{{- end -}}

{{/* The RabbitMQ image of the bundled broker and the RabbitmqCluster. */}}
{{- define "interplay.rabbitmq.image" -}}
{{- include "interplay.imageReference" (dict "root" . "repository" .Values.rabbitmq.image.repository "tag" .Values.rabbitmq.image.tag "digest" "") -}}
{{- end -}}

{{/* imagePullSecrets of every pod: global.imagePullSecrets and image.pullSecrets. */}}
{{- define "interplay.imagePullSecrets" -}}
{{- $names := concat .Values.global.imagePullSecrets .Values.image.pullSecrets | uniq -}}
{{- if $names }}
imagePullSecrets:
{{- range $names }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Name of the ServiceAccount the domain pods run as. */}}
{{- define "interplay.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "interplay.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Name of the broker: the bundled StatefulSet and its Service, or the RabbitmqCluster and the Service the operator makes. */}}
{{- define "interplay.rabbitmq.fullname" -}}
{{- printf "%s-rabbitmq" (include "interplay.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of the bundled RabbitMQ pod. */}}
{{- define "interplay.rabbitmq.selectorLabels" -}}
{{ include "interplay.selectorLabels" . }}
app.kubernetes.io/component: rabbitmq
{{- end -}}

{{/* The broker users of the bundled and operator modes, as a JSON list: every domain key, the operator, and admin for the bundled broker's management UI. */}}
{{- define "interplay.brokerUsers" -}}
{{- $users := keys .Values.domains | sortAlpha -}}
{{- $users = append $users "operator" -}}
{{- if eq .Values.rabbitmq.mode "bundled" -}}
{{- $users = append $users "admin" -}}
{{- end -}}
{{- $users | toJson -}}
{{- end -}}

{{/* Whether the chart makes the broker users' Secrets: bundled or operator mode without rabbitmq.auth.existingSecretPrefix. */}}
{{- define "interplay.createsUserSecrets" -}}
{{- if and (ne .Values.rabbitmq.mode "external") (not .Values.rabbitmq.auth.existingSecretPrefix) -}}true{{- end -}}
{{- end -}}

{{/* The Secret of a broker user (keys username, password, amqp-url); takes (dict "root" $ "user" $name). */}}
{{- define "interplay.userSecretName" -}}
{{- $prefix := .root.Values.rabbitmq.auth.existingSecretPrefix | default (printf "%s-broker" (include "interplay.fullname" .root)) -}}
{{- printf "%s-%s" $prefix .user | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* A broker user's password: the one already stored in the cluster, else a new random one, made once per render (kept in .Values so that every template of this render sees the same); takes (dict "root" $ "user" $name). */}}
{{- define "interplay.userPassword" -}}
{{- $made := .root.Values.rabbitmq.auth._passwords | default dict -}}
{{- if not (hasKey $made .user) -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace (include "interplay.userSecretName" .) -}}
{{- if and $existing $existing.data (index $existing.data "password") -}}
{{- $_ := set $made .user (index $existing.data "password" | b64dec) -}}
{{- else -}}
{{- $_ := set $made .user (randAlphaNum 32) -}}
{{- end -}}
{{- $_ := set .root.Values.rabbitmq.auth "_passwords" $made -}}
{{- end -}}
{{- index $made .user -}}
{{- end -}}

{{/* The AMQP URL of a broker user on the bundled or operator broker; takes (dict "root" $ "user" $name "password" $password). */}}
{{- define "interplay.userAmqpUrl" -}}
{{- printf "amqp://%s:%s@%s:5672/" .user .password (include "interplay.rabbitmq.fullname" .root) -}}
{{- end -}}

{{/* Where a domain's AMQP URL is, as a secretKeyRef; takes (dict "root" $ "domain" $name). */}}
{{- define "interplay.amqpUrlRef" -}}
{{- if eq .root.Values.rabbitmq.mode "external" -}}
name: {{ (index .root.Values.domains .domain).brokerSecret }}
key: {{ .root.Values.rabbitmq.external.secretKey }}
{{- else -}}
name: {{ include "interplay.userSecretName" (dict "root" .root "user" .domain) }}
key: amqp-url
{{- end -}}
{{- end -}}

{{/* Where the operator user's AMQP URL is (helm test, publish --follow), as a secretKeyRef; empty when external mode names no operatorSecret. */}}
{{- define "interplay.operatorUrlRef" -}}
{{- if eq .Values.rabbitmq.mode "external" -}}
{{- with .Values.rabbitmq.external.operatorSecret -}}
name: {{ . }}
key: {{ $.Values.rabbitmq.external.secretKey }}
{{- end -}}
{{- else -}}
name: {{ include "interplay.userSecretName" (dict "root" . "user" "operator") }}
key: amqp-url
{{- end -}}
{{- end -}}

{{/* A checksum of the Secrets a domain pod reads, so that a new version of any of them rolls the pods: the password the chart keeps for a Secret it makes, else the Secret's data as the cluster has it (empty under helm template); takes (dict "root" $ "domain" $name). */}}
{{- define "interplay.secretsChecksum" -}}
{{- $parts := list -}}
{{- $brokerSecret := (include "interplay.amqpUrlRef" . | fromYaml).name -}}
{{- if include "interplay.createsUserSecrets" .root -}}
{{- $parts = append $parts (include "interplay.userPassword" (dict "root" .root "user" .domain)) -}}
{{- else -}}
{{- $parts = append $parts (lookup "v1" "Secret" .root.Release.Namespace $brokerSecret).data -}}
{{- end -}}
{{- with .root.Values.database.existingSecret -}}
{{- $parts = append $parts (lookup "v1" "Secret" $.root.Release.Namespace .).data -}}
{{- end -}}
{{- $parts | toJson | sha256sum | trunc 16 -}}
{{- end -}}

{{/* Whether the domains keep their state in SQLite (no database.existingSecret). */}}
{{- define "interplay.sqlite" -}}
{{- if not .Values.database.existingSecret -}}true{{- end -}}
{{- end -}}

{{/* Name of a domain's SQLite PersistentVolumeClaim; takes (dict "root" $ "domain" $name). */}}
{{- define "interplay.dataClaimName" -}}
{{- printf "%s-data" (include "interplay.domainName" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The queue whose depth measures a role's backlog: the inbox for all and orchestrator, the service's RPC queue otherwise; takes (dict "domain" $name "role" $role). */}}
{{- define "interplay.roleQueue" -}}
{{- if has .role (list "all" "orchestrator") -}}
{{- printf "%s.inbox" .domain -}}
{{- else -}}
{{- printf "%s.%s.rpc" .domain .role -}}
{{- end -}}
{{- end -}}

{{/* Whether an autoscaler owns the replicas of every role. */}}
{{- define "interplay.autoscaled" -}}
{{- if or .Values.autoscaling.keda.enabled .Values.autoscaling.hpa.enabled -}}true{{- end -}}
{{- end -}}

{{/* The users, permissions, topic permissions and exchanges of the generated definitions (files/definitions.json: deploy/rabbitmq/definitions.json). */}}
{{- define "interplay.definitions" -}}
{{- .Files.Get "files/definitions.json" -}}
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
{{- $sqlite := include "interplay.sqlite" . -}}
{{- $mode := .Values.rabbitmq.mode -}}
{{- if not .Values.image.repository -}}
{{- $errors = append $errors (printf `image.repository is empty, and no public interplay image exists. Build one from the repository and push it where your cluster pulls from, then set it:
      docker build -f deploy/Dockerfile -t <registry>/interplay:%s .
      docker push <registry>/interplay:%s
      helm install <release> deploy/helm/interplay --set image.repository=<registry>/interplay` .Chart.AppVersion .Chart.AppVersion) -}}
{{- end -}}
{{- if not (fromJsonArray (include "interplay.enabledDomains" .)) -}}
{{- $errors = append $errors "no domain is enabled: set domains.<name>.enabled=true for at least one domain." -}}
{{- end -}}
{{- if not (has .Values.pattern (list "orchestration" "choreography")) -}}
{{- $errors = append $errors (printf "pattern is %q: set it to orchestration or choreography." .Values.pattern) -}}
{{- end -}}
{{- $definitions := include "interplay.definitions" . | fromJson -}}
{{- $definedUsers := list -}}
{{- range $definitions.users -}}
{{- $definedUsers = append $definedUsers .name -}}
{{- end -}}
{{- range $name, $settings := .Values.domains -}}
{{- $pattern := $settings.pattern | default $.Values.pattern -}}
{{- if not (has $pattern (list "orchestration" "choreography")) -}}
{{- $errors = append $errors (printf "domains.%s.pattern is %q: set it to orchestration or choreography." $name $settings.pattern) -}}
{{- end -}}
{{- if and (has "orchestrator" $settings.roles) (eq $pattern "choreography") -}}
{{- $errors = append $errors (printf "domains.%s.roles lists orchestrator but the domain is choreographed, so it has no orchestrator: remove orchestrator from domains.%s.roles, or set domains.%s.pattern=orchestration." $name $name $name) -}}
{{- end -}}
{{- if and (has "all" $settings.roles) (gt (len $settings.roles) 1) -}}
{{- $errors = append $errors (printf "domains.%s.roles lists all next to %s: role all already runs every part of the domain; keep [all] or list only the split roles." $name (without $settings.roles "all" | join ", ")) -}}
{{- end -}}
{{- if and $settings.enabled $sqlite -}}
{{- if gt (int $settings.replicas) 1 -}}
{{- $errors = append $errors (printf "domains.%s.replicas is %d on SQLite, a file only one pod can write: set domains.%s.replicas=1, or keep the state in PostgreSQL: create a Secret with key %s holding the domain's URL and set database.existingSecret." $name (int $settings.replicas) $name ($.Values.database.existingSecretKeyTemplate | replace "{domain}" $name)) -}}
{{- end -}}
{{- if ne ($settings.roles | toJson) "[\"all\"]" -}}
{{- $errors = append $errors (printf "domains.%s.roles splits the domain into %s on SQLite, but the roles share one database and SQLite is a file only one pod can write: set domains.%s.roles=[all], or keep the state in PostgreSQL: create a Secret with key %s holding the domain's URL and set database.existingSecret." $name (join ", " $settings.roles) $name ($.Values.database.existingSecretKeyTemplate | replace "{domain}" $name)) -}}
{{- end -}}
{{- end -}}
{{- if and $settings.enabled (eq $mode "external") (not $settings.brokerSecret) -}}
{{- $errors = append $errors (printf "domain %s has no broker credentials: with rabbitmq.mode=external each domain logs in as its own user; create a Secret with key %s holding its AMQP URL (amqps://%s:<password>@<broker>:5671/, user from `interplay broker definitions`) and set domains.%s.brokerSecret to its name." $name $.Values.rabbitmq.external.secretKey $name $name) -}}
{{- end -}}
{{- if and (ne $mode "external") $settings.brokerSecret -}}
{{- $errors = append $errors (printf "domains.%s.brokerSecret is set but rabbitmq.mode is %s, whose broker users the chart manages: unset domains.%s.brokerSecret, or set rabbitmq.mode=external to connect to the broker in that Secret." $name $mode $name) -}}
{{- end -}}
{{- if and (ne $mode "external") (not (has $name $definedUsers)) -}}
{{- $errors = append $errors (printf "domain %s has no broker user in files/definitions.json (deploy/rabbitmq/definitions.json): add the domain to the registry and run `interplay broker definitions --without-passwords --no-storefront --operator -o deploy/rabbitmq/definitions.json`." $name) -}}
{{- end -}}
{{- end -}}
{{- if and $sqlite (include "interplay.autoscaled" .) -}}
{{- $errors = append $errors "autoscaling is on, but the state is in SQLite, which only one pod per domain can write: keep the state in PostgreSQL (database.existingSecret) before autoscaling, or turn autoscaling off." -}}
{{- end -}}
{{- if and .Values.autoscaling.keda.enabled .Values.autoscaling.hpa.enabled -}}
{{- $errors = append $errors "autoscaling.keda.enabled and autoscaling.hpa.enabled are both true, and two autoscalers would fight over the replicas: keep one." -}}
{{- end -}}
{{- if $errors -}}
{{- printf "\n\nVALUES NEED A FIX:\n  - %s" ($errors | join "\n  - ") | fail -}}
{{- end -}}
{{- end -}}
