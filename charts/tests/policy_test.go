package chartcheck_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// policyViolations returns every way the rendered objects break the
// platform's deployment rules; each entry names the object and says what
// was expected.
func policyViolations(objs []object) []string {
	var v []string
	add := func(o object, format string, args ...any) {
		v = append(v, fmt.Sprintf("%s %s: %s", kindOf(o), o.meta.Name, fmt.Sprintf(format, args...)))
	}

	deployments := map[string]*appsv1.Deployment{}
	svcs := map[string]*corev1.Service{}
	configMaps := map[string]bool{}
	var pdbs []*policyv1.PodDisruptionBudget
	var hpas []*autoscalingv2.HorizontalPodAutoscaler
	for _, o := range objs {
		switch x := o.obj.(type) {
		case *appsv1.Deployment:
			deployments[x.Name] = x
		case *corev1.Service:
			svcs[x.Name] = x
		case *corev1.ConfigMap:
			configMaps[x.Name] = true
		case *policyv1.PodDisruptionBudget:
			pdbs = append(pdbs, x)
		case *autoscalingv2.HorizontalPodAutoscaler:
			hpas = append(hpas, x)
		}
	}

	for _, o := range objs {
		switch x := o.obj.(type) {
		case *appsv1.Deployment:
			for _, msg := range podSpecViolations(x.Spec.Template.Spec, true) {
				add(o, "%s", msg)
			}
			sel, err := metav1.LabelSelectorAsSelector(x.Spec.Selector)
			if err != nil || !sel.Matches(labels.Set(x.Spec.Template.Labels)) {
				add(o, "spec.selector %v does not match the pod template labels %v", x.Spec.Selector, x.Spec.Template.Labels)
			}
			for _, c := range x.Spec.Template.Spec.Containers {
				for _, ef := range c.EnvFrom {
					if ef.ConfigMapRef != nil && !configMaps[ef.ConfigMapRef.Name] {
						add(o, "envFrom names ConfigMap %q, which the chart does not render", ef.ConfigMapRef.Name)
					}
				}
			}
			most := int32(1) // the most replicas that can run
			if x.Spec.Replicas != nil {
				most = *x.Spec.Replicas
			}
			for _, h := range hpas {
				if h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == x.Name {
					if x.Spec.Replicas != nil {
						add(o, "sets spec.replicas while HPA %s scales it; the two would fight", h.Name)
					}
					most = max(most, h.Spec.MaxReplicas)
				}
			}
			if most > 1 && !hasPDB(pdbs, x.Spec.Template.Labels) {
				add(o, "can run %d replicas but no PodDisruptionBudget selects its pods", most)
			}
		case *batchv1.Job:
			for _, msg := range podSpecViolations(x.Spec.Template.Spec, false) {
				add(o, "%s", msg)
			}
			hook := x.Annotations["helm.sh/hook"]
			if !strings.Contains(hook, "pre-upgrade") || !(strings.Contains(hook, "pre-install") || strings.Contains(hook, "post-install")) {
				add(o, "expected a migration hook on install and pre-upgrade, got helm.sh/hook=%q", hook)
			}
			if x.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever && x.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
				add(o, "restartPolicy %q is not allowed for a Job", x.Spec.Template.Spec.RestartPolicy)
			}
		case *corev1.Pod:
			for _, msg := range podSpecViolations(x.Spec, false) {
				add(o, "%s", msg)
			}
			if x.Annotations["helm.sh/hook"] != "test" {
				add(o, "a bare Pod is only expected as a helm test hook, got helm.sh/hook=%q", x.Annotations["helm.sh/hook"])
			}
		case *corev1.Service:
			d := deploymentFor(deployments, x.Spec.Selector)
			if d == nil {
				add(o, "selector %v matches no rendered Deployment", x.Spec.Selector)
				continue
			}
			for _, p := range x.Spec.Ports {
				if !containerHasPort(d.Spec.Template.Spec.Containers, p.TargetPort) {
					add(o, "port %s targets %s, which no container of Deployment %s exposes", p.Name, p.TargetPort.String(), d.Name)
				}
			}
		case *policyv1.PodDisruptionBudget:
			if (x.Spec.MinAvailable == nil) == (x.Spec.MaxUnavailable == nil) {
				add(o, "expected exactly one of minAvailable and maxUnavailable")
			}
		case *autoscalingv2.HorizontalPodAutoscaler:
			if _, ok := deployments[x.Spec.ScaleTargetRef.Name]; !ok || x.Spec.ScaleTargetRef.Kind != "Deployment" {
				add(o, "scaleTargetRef %s/%s is not a rendered Deployment", x.Spec.ScaleTargetRef.Kind, x.Spec.ScaleTargetRef.Name)
			}
			if x.Spec.MinReplicas != nil && *x.Spec.MinReplicas > x.Spec.MaxReplicas {
				add(o, "minReplicas %d is above maxReplicas %d", *x.Spec.MinReplicas, x.Spec.MaxReplicas)
			}
		case *networkingv1.Ingress:
			for _, r := range x.Spec.Rules {
				for _, p := range r.HTTP.Paths {
					s, ok := svcs[p.Backend.Service.Name]
					if !ok {
						add(o, "path %s routes to Service %q, which is not rendered", p.Path, p.Backend.Service.Name)
						continue
					}
					if !slices.ContainsFunc(s.Spec.Ports, func(sp corev1.ServicePort) bool {
						return sp.Name == p.Backend.Service.Port.Name && p.Backend.Service.Port.Name != "" || sp.Port == p.Backend.Service.Port.Number
					}) {
						add(o, "path %s uses port %v, which Service %s does not have", p.Path, p.Backend.Service.Port, s.Name)
					}
				}
			}
		case *gatewayv1.HTTPRoute:
			for _, r := range x.Spec.Rules {
				for _, b := range r.BackendRefs {
					s, ok := svcs[string(b.Name)]
					if !ok {
						add(o, "backendRef %q is not a rendered Service", b.Name)
						continue
					}
					if b.Port == nil || !slices.ContainsFunc(s.Spec.Ports, func(sp corev1.ServicePort) bool { return sp.Port == int32(*b.Port) }) {
						add(o, "backendRef %s has no port matching the Service's ports", b.Name)
					}
				}
			}
		case *monitoringv1.ServiceMonitor:
			matched := false
			for _, s := range svcs {
				sel, err := metav1.LabelSelectorAsSelector(&x.Spec.Selector)
				if err == nil && sel.Matches(labels.Set(s.Labels)) {
					matched = true
					for _, ep := range x.Spec.Endpoints {
						if !slices.ContainsFunc(s.Spec.Ports, func(sp corev1.ServicePort) bool { return sp.Name == ep.Port }) {
							add(o, "endpoint port %q is not a port of Service %s", ep.Port, s.Name)
						}
					}
				}
			}
			if !matched {
				add(o, "selector matches no rendered Service")
			}
		}
	}
	return v
}

func kindOf(o object) string {
	return o.gvk[strings.LastIndex(o.gvk, "/")+1:]
}

func hasPDB(pdbs []*policyv1.PodDisruptionBudget, podLabels map[string]string) bool {
	for _, p := range pdbs {
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(podLabels)) {
			return true
		}
	}
	return false
}

func deploymentFor(ds map[string]*appsv1.Deployment, selector map[string]string) *appsv1.Deployment {
	if len(selector) == 0 {
		return nil
	}
	for _, d := range ds {
		if labels.SelectorFromSet(selector).Matches(labels.Set(d.Spec.Template.Labels)) {
			return d
		}
	}
	return nil
}

func containerHasPort(cs []corev1.Container, p intstr.IntOrString) bool {
	for _, c := range cs {
		for _, cp := range c.Ports {
			if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
				return true
			}
		}
	}
	return false
}

// podSpecViolations checks the rules every pod of the platform follows.
// server is true for long-running service pods, which also need probes.
func podSpecViolations(spec corev1.PodSpec, server bool) []string {
	var v []string
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		v = append(v, "pod securityContext.runAsNonRoot must be true")
	}
	if psc != nil && psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		v = append(v, "pod securityContext.runAsUser must not be 0")
	}
	podSeccomp := psc != nil && psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		v = append(v, "automountServiceAccountToken must be false: no pod of the platform calls the Kubernetes API")
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		v = append(v, "host namespaces must not be shared")
	}
	all := append(slices.Clone(spec.InitContainers), spec.Containers...)
	if len(all) == 0 {
		v = append(v, "no containers")
	}
	for _, c := range all {
		p := func(format string, args ...any) {
			v = append(v, fmt.Sprintf("container %s: %s", c.Name, fmt.Sprintf(format, args...)))
		}
		// Resources: requests for scheduling, a memory limit against leaks.
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := c.Resources.Requests[r]; !ok || q.IsZero() {
				p("resources.requests.%s is missing", r)
			}
		}
		memLimit, ok := c.Resources.Limits[corev1.ResourceMemory]
		if !ok || memLimit.IsZero() {
			p("resources.limits.memory is missing")
		}
		// Security context.
		sc := c.SecurityContext
		if sc == nil {
			p("securityContext is missing")
			continue
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			p("securityContext.readOnlyRootFilesystem must be true")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			p("securityContext.allowPrivilegeEscalation must be false")
		}
		if sc.Privileged != nil && *sc.Privileged {
			p("securityContext.privileged must not be true")
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			p("securityContext.capabilities must drop ALL and add none")
		}
		if sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot {
			p("securityContext.runAsNonRoot must not be false")
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			p("securityContext.runAsUser must not be 0")
		}
		if !podSeccomp && (sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault) {
			p("seccompProfile RuntimeDefault is required on the pod or the container")
		}
		// Image: pinned by a tag other than latest, or by digest.
		if msg := imageViolation(c.Image); msg != "" {
			p("%s", msg)
		}
		// Environment: valid, unique names; GOMEMLIMIT below the memory limit.
		seen := map[string]bool{}
		for _, e := range c.Env {
			for _, err := range validation.IsEnvVarName(e.Name) {
				p("env %q: %s", e.Name, err)
			}
			if seen[e.Name] {
				p("env %s is set twice", e.Name)
			}
			seen[e.Name] = true
			if e.Name == "GOMEMLIMIT" {
				n, err := strconv.ParseInt(e.Value, 10, 64)
				if err != nil || n <= 0 || (ok && n >= memLimit.Value()) {
					p("GOMEMLIMIT=%q must be a byte count below the memory limit %s", e.Value, memLimit.String())
				}
			}
			if e.Name == "GOMAXPROCS" && (e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef == nil || e.ValueFrom.ResourceFieldRef.Resource != "limits.cpu") {
				p("GOMAXPROCS must come from limits.cpu through the downward API")
			}
		}
		if !seen["GOMEMLIMIT"] && strings.Contains(c.Image, "affinity-platform") {
			p("GOMEMLIMIT is not set from the memory limit")
		}
		if server {
			if c.LivenessProbe == nil || c.ReadinessProbe == nil || c.StartupProbe == nil {
				p("liveness, readiness and startup probes are all required")
				continue
			}
			// A container that serves gRPC is alive when its gRPC health
			// service answers; one without gRPC (the console) by HTTP.
			if c.LivenessProbe.GRPC == nil && containerHasPort([]corev1.Container{c}, intstr.FromString("grpc")) {
				p("livenessProbe must be a native grpc probe")
			}
			for name, pr := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
				var port intstr.IntOrString
				switch {
				case pr.GRPC != nil:
					port = intstr.FromInt32(pr.GRPC.Port)
				case pr.HTTPGet != nil:
					port = pr.HTTPGet.Port
				default:
					p("%sProbe must be grpc or httpGet", name)
					continue
				}
				if !containerHasPort([]corev1.Container{c}, port) {
					p("%sProbe port %s is not a container port", name, port.String())
				}
			}
		}
	}
	return v
}

// imageViolation says what is wrong with an image reference, or "".
func imageViolation(image string) string {
	ref, digest, hasDigest := strings.Cut(image, "@")
	if hasDigest {
		if !strings.HasPrefix(digest, "sha256:") || len(digest) != len("sha256:")+64 {
			return fmt.Sprintf("image %q has a malformed digest", image)
		}
		return ""
	}
	slash := strings.LastIndex(ref, "/")
	colon := strings.LastIndex(ref, ":")
	if colon <= slash {
		return fmt.Sprintf("image %q has no tag: pin a version or a digest", image)
	}
	if tag := ref[colon+1:]; tag == "latest" || tag == "" {
		return fmt.Sprintf("image %q uses tag %q: pin a version or a digest", image, tag)
	}
	return ""
}
