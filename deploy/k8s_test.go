package deploy

import (
	"bytes"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/residual-go/residual/model"
	"github.com/residual-go/residual/serve"
	"github.com/residual-go/residual/vision"
)

// The fields of the manifests that the checks read (yaml.v3 ignores the
// others; kubectl's schema is not available offline).
type (
	meta struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	}
	object struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   meta   `yaml:"metadata"`
	}
	selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	}
	probe struct {
		HTTPGet *struct {
			Path string    `yaml:"path"`
			Port yaml.Node `yaml:"port"` // a number or a port name
		} `yaml:"httpGet"`
		PeriodSeconds    int `yaml:"periodSeconds"`
		FailureThreshold int `yaml:"failureThreshold"`
	}
	container struct {
		Name  string   `yaml:"name"`
		Image string   `yaml:"image"`
		Args  []string `yaml:"args"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		Env []struct {
			Name  string `yaml:"name"`
			Value string `yaml:"value"`
		} `yaml:"env"`
		Resources struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		StartupProbe   *probe `yaml:"startupProbe"`
		ReadinessProbe *probe `yaml:"readinessProbe"`
		LivenessProbe  *probe `yaml:"livenessProbe"`
	}
	deployment struct {
		object `yaml:",inline"`
		Spec   struct {
			Replicas int      `yaml:"replicas"`
			Selector selector `yaml:"selector"`
			Template struct {
				Metadata meta `yaml:"metadata"`
				Spec     struct {
					TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
					SecurityContext               struct {
						RunAsNonRoot bool `yaml:"runAsNonRoot"`
						RunAsUser    int  `yaml:"runAsUser"`
					} `yaml:"securityContext"`
					Containers []container `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	service struct {
		object `yaml:",inline"`
		Spec   struct {
			Selector map[string]string `yaml:"selector"`
			Ports    []struct {
				Name       string    `yaml:"name"`
				Port       int       `yaml:"port"`
				TargetPort yaml.Node `yaml:"targetPort"`
			} `yaml:"ports"`
		} `yaml:"spec"`
	}
	hpa struct {
		object `yaml:",inline"`
		Spec   struct {
			ScaleTargetRef struct {
				APIVersion string `yaml:"apiVersion"`
				Kind       string `yaml:"kind"`
				Name       string `yaml:"name"`
			} `yaml:"scaleTargetRef"`
			MinReplicas int `yaml:"minReplicas"`
			MaxReplicas int `yaml:"maxReplicas"`
			Metrics     []struct {
				Type     string `yaml:"type"`
				Resource struct {
					Name   string `yaml:"name"`
					Target struct {
						Type               string `yaml:"type"`
						AverageUtilization int    `yaml:"averageUtilization"`
					} `yaml:"target"`
				} `yaml:"resource"`
			} `yaml:"metrics"`
		} `yaml:"spec"`
	}
	pdb struct {
		object `yaml:",inline"`
		Spec   struct {
			MinAvailable *int     `yaml:"minAvailable"`
			Selector     selector `yaml:"selector"`
		} `yaml:"spec"`
	}
)

// load decodes one manifest (one document) into v and checks its kind.
func load(t *testing.T, file, apiVersion, kind string, v any, obj func() object) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("k8s", file))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var extra any
	if err := dec.Decode(&extra); err == nil {
		t.Fatalf("%s: more than one document", file)
	}
	o := obj()
	if o.APIVersion != apiVersion || o.Kind != kind || o.Metadata.Name == "" {
		t.Fatalf("%s: %s %s %q, want %s %s with a name", file, o.APIVersion, o.Kind, o.Metadata.Name, apiVersion, kind)
	}
}

// subset reports whether every label of sel is in labels (a selector
// matching them); an empty selector matches everything and is refused.
func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// quantity parses a Kubernetes CPU or memory quantity ("500m", "2",
// "384Mi", "1G") into cores or bytes.
func quantity(t *testing.T, s string) float64 {
	t.Helper()
	m := regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|Ki|Mi|Gi)?$`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("quantity %q: not a number with an optional m, k, M, G, Ki, Mi or Gi suffix", s)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	mult := map[string]float64{"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}[m[2]]
	return v * mult
}

// portOf resolves a probe's or service's port (a number or a name) to a
// container port number.
func portOf(t *testing.T, n yaml.Node, c container) int {
	t.Helper()
	if p, err := strconv.Atoi(n.Value); err == nil {
		return p
	}
	for _, p := range c.Ports {
		if p.Name == n.Value {
			return p.ContainerPort
		}
	}
	t.Fatalf("port %q names no port of container %s", n.Value, c.Name)
	return 0
}

// flagValue returns the value of --name in args ("" when absent).
func flagValue(args []string, name string) string {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func TestManifests(t *testing.T) {
	var d deployment
	var s service
	var h hpa
	var p pdb
	load(t, "deployment.yaml", "apps/v1", "Deployment", &d, func() object { return d.object })
	load(t, "service.yaml", "v1", "Service", &s, func() object { return s.object })
	load(t, "hpa.yaml", "autoscaling/v2", "HorizontalPodAutoscaler", &h, func() object { return h.object })
	load(t, "pdb.yaml", "policy/v1", "PodDisruptionBudget", &p, func() object { return p.object })
	podLabels := d.Spec.Template.Metadata.Labels

	t.Run("labels and selectors", func(t *testing.T) {
		if !subset(d.Spec.Selector.MatchLabels, podLabels) {
			t.Errorf("the Deployment's selector %v does not match its pods' labels %v", d.Spec.Selector.MatchLabels, podLabels)
		}
		if !subset(s.Spec.Selector, podLabels) {
			t.Errorf("the Service's selector %v does not match the pods' labels %v", s.Spec.Selector, podLabels)
		}
		if !subset(p.Spec.Selector.MatchLabels, podLabels) {
			t.Errorf("the PodDisruptionBudget's selector %v does not match the pods' labels %v", p.Spec.Selector.MatchLabels, podLabels)
		}
		for _, o := range []object{d.object, s.object, h.object, p.object} {
			if !maps.Equal(o.Metadata.Labels, podLabels) {
				t.Errorf("%s %s labelled %v, the pods %v", o.Kind, o.Metadata.Name, o.Metadata.Labels, podLabels)
			}
		}
	})

	if len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(d.Spec.Template.Spec.Containers))
	}
	c := d.Spec.Template.Spec.Containers[0]

	t.Run("container", func(t *testing.T) {
		// The server listens on every interface, on the container port.
		if len(c.Args) == 0 || c.Args[0] != "serve" {
			t.Fatalf("args %v: want serve ...", c.Args)
		}
		addr := flagValue(c.Args, "--addr")
		_, port, ok := strings.Cut(addr, ":")
		if !ok || !strings.HasPrefix(addr, ":") {
			t.Fatalf("--addr %q: want :PORT (every interface)", addr)
		}
		if len(c.Ports) != 1 || strconv.Itoa(c.Ports[0].ContainerPort) != port || c.Ports[0].Name == "" {
			t.Errorf("container ports %+v, want one named port %s", c.Ports, port)
		}
		// The pod runs as the image's user.
		sc := d.Spec.Template.Spec.SecurityContext
		script, err := os.ReadFile(filepath.Join("..", "scripts", "build_image.sh"))
		if err != nil {
			t.Fatal(err)
		}
		if !sc.RunAsNonRoot || !bytes.Contains(script, fmt.Appendf(nil, "uid=%d\n", sc.RunAsUser)) {
			t.Errorf("runAsNonRoot %v, runAsUser %d: want the non-root uid of scripts/build_image.sh", sc.RunAsNonRoot, sc.RunAsUser)
		}
		// The termination grace outlasts the drain.
		var drain time.Duration
		for _, f := range []string{"--drain-delay", "--shutdown-grace"} {
			v, err := time.ParseDuration(flagValue(c.Args, f))
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			drain += v
		}
		if grace := time.Duration(d.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second; grace <= drain {
			t.Errorf("terminationGracePeriodSeconds %v, want more than --drain-delay + --shutdown-grace = %v", grace, drain)
		}
	})

	t.Run("resources", func(t *testing.T) {
		r := c.Resources
		for _, res := range []string{"cpu", "memory"} {
			req, lim := r.Requests[res], r.Limits[res]
			if req == "" || lim == "" {
				t.Fatalf("%s: request %q, limit %q; want both", res, req, lim)
			}
			if quantity(t, req) > quantity(t, lim) {
				t.Errorf("%s request %s above its limit %s", res, req, lim)
			}
		}
		// GOMEMLIMIT keeps the heap under the memory limit.
		i := slices.IndexFunc(c.Env, func(e struct {
			Name  string `yaml:"name"`
			Value string `yaml:"value"`
		}) bool {
			return e.Name == "GOMEMLIMIT"
		})
		if i < 0 {
			t.Fatal("no GOMEMLIMIT in the container's env")
		}
		gomem := quantity(t, strings.TrimSuffix(c.Env[i].Value, "B"))
		if lim := quantity(t, r.Limits["memory"]); gomem >= lim {
			t.Errorf("GOMEMLIMIT %s not below the memory limit %s", c.Env[i].Value, r.Limits["memory"])
		}
	})

	t.Run("probes", func(t *testing.T) {
		// The probes ask the real server's handler, on the container port.
		srv := newServer(t)
		want := map[string]string{"startup": "/healthz", "readiness": "/readyz", "liveness": "/healthz"}
		for kind, pr := range map[string]*probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
			if pr == nil || pr.HTTPGet == nil {
				t.Errorf("no %s httpGet probe", kind)
				continue
			}
			if pr.HTTPGet.Path != want[kind] {
				t.Errorf("%s probe on %s, want %s", kind, pr.HTTPGet.Path, want[kind])
			}
			if got := portOf(t, pr.HTTPGet.Port, c); got != c.Ports[0].ContainerPort {
				t.Errorf("%s probe on port %d, the server listens on %d", kind, got, c.Ports[0].ContainerPort)
			}
			if pr.PeriodSeconds <= 0 || pr.FailureThreshold <= 0 {
				t.Errorf("%s probe: period %d s, failure threshold %d", kind, pr.PeriodSeconds, pr.FailureThreshold)
			}
			resp, err := http.Get(srv.URL + pr.HTTPGet.Path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s probe: the server answers %s on %s (with an API token set)", kind, resp.Status, pr.HTTPGet.Path)
			}
		}
	})

	t.Run("service", func(t *testing.T) {
		if len(s.Spec.Ports) != 1 || s.Spec.Ports[0].Port == 0 {
			t.Fatalf("service ports %+v", s.Spec.Ports)
		}
		if got := portOf(t, s.Spec.Ports[0].TargetPort, c); got != c.Ports[0].ContainerPort {
			t.Errorf("the Service targets port %d, the server listens on %d", got, c.Ports[0].ContainerPort)
		}
	})

	t.Run("autoscaler", func(t *testing.T) {
		ref := h.Spec.ScaleTargetRef
		if ref.APIVersion != d.APIVersion || ref.Kind != d.Kind || ref.Name != d.Metadata.Name {
			t.Errorf("the autoscaler targets %s %s %s, want %s %s %s", ref.APIVersion, ref.Kind, ref.Name, d.APIVersion, d.Kind, d.Metadata.Name)
		}
		if h.Spec.MinReplicas < 1 || h.Spec.MaxReplicas < h.Spec.MinReplicas || d.Spec.Replicas < h.Spec.MinReplicas {
			t.Errorf("replicas %d, autoscaler %d..%d", d.Spec.Replicas, h.Spec.MinReplicas, h.Spec.MaxReplicas)
		}
		if len(h.Spec.Metrics) != 1 || h.Spec.Metrics[0].Type != "Resource" || h.Spec.Metrics[0].Resource.Name != "cpu" ||
			h.Spec.Metrics[0].Resource.Target.Type != "Utilization" || h.Spec.Metrics[0].Resource.Target.AverageUtilization <= 0 ||
			h.Spec.Metrics[0].Resource.Target.AverageUtilization > 100 {
			t.Errorf("autoscaler metrics %+v, want CPU utilization", h.Spec.Metrics)
		}
	})

	t.Run("disruption budget", func(t *testing.T) {
		// At least one replica stays, and a node can still be drained.
		if p.Spec.MinAvailable == nil || *p.Spec.MinAvailable < 1 || *p.Spec.MinAvailable >= h.Spec.MinReplicas {
			t.Errorf("minAvailable %v with at least %d replicas: want 1 <= minAvailable < minReplicas", p.Spec.MinAvailable, h.Spec.MinReplicas)
		}
	})
}

// newServer serves a small untrained classifier through the server's
// handler, with an API token set: probes must not need it.
func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	net, err := model.New(model.Config{Layers: []int{1}, Widths: []int{4}, Input: [3]int{8, 8, 1}, Classes: 2}, 1)
	if err != nil {
		t.Fatal(err)
	}
	m, err := serve.NewModel("m", net, []string{"a", "b"}, vision.Preprocess{Width: 8, Height: 8, Channels: 1}, "test", 1)
	if err != nil {
		t.Fatal(err)
	}
	s, err := serve.New(serve.Config{Token: "secret"}, m)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}
