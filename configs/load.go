// Package configs holds the shipped configuration files of the Peercam
// daemons (they are the defaults) and the one pipeline that loads them:
// defaults, a strict YAML decode that rejects unknown keys, an environment
// overlay, then Validate, whose messages quote the offending key.
package configs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is implemented by each daemon's configuration.
type Config interface {
	// Validate reports the first problem, quoting the key.
	Validate() error
}

// Load overlays the YAML file at path (if path is not empty) and then the
// environment variables starting with envPrefix onto cfg, which holds the
// defaults, and validates the result. An unknown key, a value of the wrong
// type or an invalid value is an error naming the key.
func Load(path, envPrefix string, cfg Config) error {
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		if err := Decode(b, cfg); err != nil {
			return fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := overlayEnv(envPrefix, os.Environ(), cfg); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// Decode strictly decodes YAML onto cfg: unknown keys and trailing documents
// are errors. An empty document leaves cfg as it is.
func Decode(b []byte, cfg any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("more than one YAML document")
	}
	return nil
}

// overlayEnv sets fields from variables named envPrefix + the upper-case
// yaml key path joined by "_", e.g. PEERCAM_CAMD_VIDEO_WIDTH=640.
func overlayEnv(prefix string, environ []string, cfg any) error {
	if prefix == "" {
		return nil
	}
	vars := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, prefix) {
			vars[k] = v
		}
	}
	if len(vars) == 0 {
		return nil
	}
	used := map[string]bool{}
	if err := walkEnv(reflect.ValueOf(cfg).Elem(), prefix, "", vars, used); err != nil {
		return err
	}
	for k := range vars {
		if !used[k] {
			return fmt.Errorf("environment variable %s matches no setting", k)
		}
	}
	return nil
}

var durationType = reflect.TypeOf(time.Duration(0))

func walkEnv(v reflect.Value, prefix, path string, vars map[string]string, used map[string]bool) error {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		key := tag
		if path != "" {
			key = path + "." + tag
		}
		fv := v.Field(i)
		if f.Type.Kind() == reflect.Struct {
			if err := walkEnv(fv, prefix, key, vars, used); err != nil {
				return err
			}
			continue
		}
		name := prefix + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
		s, ok := vars[name]
		if !ok {
			continue
		}
		used[name] = true
		if err := setString(fv, s); err != nil {
			return fmt.Errorf("%s (setting %q): %w", name, key, err)
		}
	}
	return nil
}

func setString(v reflect.Value, s string) error {
	switch {
	case v.Type() == durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(s)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		v.SetBool(b)
	case v.CanInt():
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v.OverflowInt(n) {
			return fmt.Errorf("not a whole number in range: %q", s)
		}
		v.SetInt(n)
	case v.CanUint():
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || v.OverflowUint(n) {
			return fmt.Errorf("not a whole number in range: %q", s)
		}
		v.SetUint(n)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		var parts []string
		for p := range strings.SplitSeq(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		v.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}
