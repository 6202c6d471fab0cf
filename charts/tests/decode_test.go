package chartcheck_test

import (
	"fmt"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"
)

// object is one rendered, strictly decoded Kubernetes object.
type object struct {
	source string
	gvk    string // apiVersion/Kind
	meta   metav1.ObjectMeta
	obj    any // pointer to the typed object
}

// newTyped returns an empty typed object for apiVersion/kind, or nil when the
// charts are not expected to render that kind.
func newTyped(gvk string) any {
	switch gvk {
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}
	case "v1/Service":
		return &corev1.Service{}
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}
	case "v1/Pod":
		return &corev1.Pod{}
	case "batch/v1/Job":
		return &batchv1.Job{}
	case "autoscaling/v2/HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "networking.k8s.io/v1/NetworkPolicy":
		return &networkingv1.NetworkPolicy{}
	case "networking.k8s.io/v1/Ingress":
		return &networkingv1.Ingress{}
	case "monitoring.coreos.com/v1/ServiceMonitor":
		return &monitoringv1.ServiceMonitor{}
	case "monitoring.coreos.com/v1/PrometheusRule":
		return &monitoringv1.PrometheusRule{}
	case "gateway.networking.k8s.io/v1/HTTPRoute":
		return &gatewayv1.HTTPRoute{}
	case "kafka.strimzi.io/v1beta2/KafkaTopic":
		return &kafkaTopic{}
	case "postgresql.cnpg.io/v1/Cluster":
		return &cnpgCluster{}
	}
	return nil
}

// decodeAll strictly decodes every document: a field the API type does not
// have, a duplicate field, a wrong type or an unparsable quantity fails.
func decodeAll(t testing.TB, r rendered) []object {
	t.Helper()
	var objs []object
	for _, d := range r.docs {
		if strings.TrimSpace(stripComments(d.yaml)) == "" {
			continue
		}
		o, err := decode(d)
		if err != nil {
			t.Errorf("%s: %v", d.source, err)
			continue
		}
		objs = append(objs, o)
	}
	return objs
}

func decode(d renderedDoc) (object, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal([]byte(d.yaml), &tm); err != nil {
		return object{}, fmt.Errorf("not YAML: %w", err)
	}
	gvk := tm.APIVersion + "/" + tm.Kind
	typed := newTyped(gvk)
	if typed == nil {
		return object{}, fmt.Errorf("unexpected kind %s: add its API type to the checks", gvk)
	}
	if err := yaml.UnmarshalStrict([]byte(d.yaml), typed); err != nil {
		return object{}, fmt.Errorf("%s does not decode strictly: %w", gvk, err)
	}
	var withMeta struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	if err := yaml.Unmarshal([]byte(d.yaml), &withMeta); err != nil {
		return object{}, err
	}
	o := object{source: d.source, gvk: gvk, meta: withMeta.Metadata, obj: typed}
	if err := validateMeta(o); err != nil {
		return object{}, err
	}
	return o, nil
}

// validateMeta applies the API server's rules for names, labels and
// annotations, which decoding alone does not check.
func validateMeta(o object) error {
	var errs []string
	if o.meta.Name == "" {
		errs = append(errs, "metadata.name is empty")
	}
	nameCheck := validation.IsDNS1123Subdomain
	switch o.gvk {
	case "v1/Service", "networking.k8s.io/v1/NetworkPolicy":
		nameCheck = validation.IsDNS1035Label
	}
	for _, e := range nameCheck(o.meta.Name) {
		errs = append(errs, fmt.Sprintf("metadata.name %q: %s", o.meta.Name, e))
	}
	for k, v := range o.meta.Labels {
		for _, e := range validation.IsQualifiedName(k) {
			errs = append(errs, fmt.Sprintf("label key %q: %s", k, e))
		}
		for _, e := range validation.IsValidLabelValue(v) {
			errs = append(errs, fmt.Sprintf("label %s=%q: %s", k, v, e))
		}
	}
	for k := range o.meta.Annotations {
		for _, e := range validation.IsQualifiedName(k) {
			errs = append(errs, fmt.Sprintf("annotation key %q: %s", k, e))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s %s: %s", o.gvk, o.meta.Name, strings.Join(errs, "; "))
	}
	return nil
}

func stripComments(s string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(s, "\n") {
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") || t == "---" {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// The operators below publish their CRDs but no Go module of API types that
// can be fetched here, so these mirror the fields of their CRDs that the
// charts render (Strimzi kafka.strimzi.io/v1beta2 KafkaTopic; CloudNativePG
// postgresql.cnpg.io/v1 Cluster, from the operators' API references). Strict
// decoding into them still catches misspelt or misplaced keys in the
// templates; a field the charts start rendering must be added here on purpose.

type kafkaTopic struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		TopicName  string         `json:"topicName"`
		Partitions int32          `json:"partitions"`
		Replicas   int32          `json:"replicas"`
		Config     map[string]any `json:"config"`
	} `json:"spec"`
}

type cnpgStorage struct {
	Size         resource.Quantity `json:"size"`
	StorageClass string            `json:"storageClass,omitempty"`
}

type cnpgSecretKey struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

type cnpgCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Instances int    `json:"instances"`
		ImageName string `json:"imageName,omitempty"`
		Bootstrap struct {
			InitDB struct {
				Database string `json:"database"`
				Owner    string `json:"owner"`
			} `json:"initdb"`
		} `json:"bootstrap"`
		Storage    cnpgStorage  `json:"storage"`
		WalStorage *cnpgStorage `json:"walStorage,omitempty"`
		PostgreSQL *struct {
			Parameters map[string]string `json:"parameters"`
		} `json:"postgresql,omitempty"`
		Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
		Affinity  struct {
			EnablePodAntiAffinity bool   `json:"enablePodAntiAffinity"`
			TopologyKey           string `json:"topologyKey"`
			PodAntiAffinityType   string `json:"podAntiAffinityType"`
		} `json:"affinity"`
		Monitoring *struct {
			EnablePodMonitor bool `json:"enablePodMonitor"`
		} `json:"monitoring,omitempty"`
		Backup *struct {
			RetentionPolicy   string `json:"retentionPolicy,omitempty"`
			Target            string `json:"target,omitempty"`
			BarmanObjectStore *struct {
				DestinationPath string `json:"destinationPath"`
				EndpointURL     string `json:"endpointURL,omitempty"`
				ServerName      string `json:"serverName,omitempty"`
				S3Credentials   *struct {
					AccessKeyID        *cnpgSecretKey `json:"accessKeyId,omitempty"`
					SecretAccessKey    *cnpgSecretKey `json:"secretAccessKey,omitempty"`
					Region             *cnpgSecretKey `json:"region,omitempty"`
					SessionToken       *cnpgSecretKey `json:"sessionToken,omitempty"`
					InheritFromIAMRole bool           `json:"inheritFromIAMRole,omitempty"`
				} `json:"s3Credentials,omitempty"`
				Wal *struct {
					Compression string `json:"compression,omitempty"`
					Encryption  string `json:"encryption,omitempty"`
					MaxParallel int    `json:"maxParallel,omitempty"`
				} `json:"wal,omitempty"`
				Data *struct {
					Compression         string `json:"compression,omitempty"`
					Encryption          string `json:"encryption,omitempty"`
					Jobs                int    `json:"jobs,omitempty"`
					ImmediateCheckpoint bool   `json:"immediateCheckpoint,omitempty"`
				} `json:"data,omitempty"`
			} `json:"barmanObjectStore,omitempty"`
		} `json:"backup,omitempty"`
	} `json:"spec"`
}
