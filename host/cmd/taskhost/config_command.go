package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// RuntimeNode is the one runtime a handler block may name: Node.js, for
// plugins written with @taskhost/sdk and for twin.org handler modules.
const RuntimeNode = "node"

// TwinConfigEnv is the variable through which the twin runner gets the
// handler's config, which it passes to the module's methods as twin's
// engineCloneData.
const TwinConfigEnv = "TASKHOST_TWIN_CONFIG"

// twinRunnerBin is the bin of @taskhost/sdk that runs a twin.org module.
const twinRunnerBin = "taskhost-twin"

// diagFunc adds one error diagnostic about a handler block.
type diagFunc func(rng hcl.Range, summary, format string, args ...any)

// command resolves what a handler block runs, into hc.Plugin and
// hc.Options' Args and Script:
//
//   - plugin alone: a plugin binary, a path relative to the config file;
//   - plugin and args: a command, plugin being its interpreter (a bare
//     name like "node" is looked up in the host's PATH, now, once) and
//     args its options and script (relative to the config file);
//   - runtime = "node" with args: the same with node as the interpreter;
//   - runtime = "node" with module: a twin.org module, run by the twin
//     runner of the @taskhost/sdk installed in a node_modules directory
//     above the module.
//
// The twin runner's config variable is set by twinEnv, once the config is
// known.
func (hf *handlerFile) command(dir string, hc *HandlerConfig, bad diagFunc) {
	plugin := ""
	if hf.Plugin != nil {
		plugin = *hf.Plugin
	}
	if hf.Runtime == nil {
		switch {
		case hf.Module != nil:
			bad(hf.ModuleRange, "Module without runtime", `module names a twin.org module, which needs runtime = "node"`)
		case hf.Plugin == nil:
			bad(hf.DefRange, "Missing required argument", `The argument "plugin" is required (or runtime = "node"), but no definition was found.`)
		case plugin == "":
			bad(hf.PluginRange, "Invalid plugin", "it is empty: want the plugin binary's path")
		case hf.Args != nil:
			hc.Plugin = hf.interpreter(dir, plugin, bad)
			hf.script(dir, hc, bad)
		default:
			hc.Plugin = resolve(dir, plugin)
			checkFile(bad, hf.PluginRange, hc.Plugin, "Plugin not found", "Invalid plugin", "", true)
		}
		return
	}

	if *hf.Runtime != RuntimeNode {
		bad(hf.RuntimeRange, "Invalid runtime", "%q: want %q", *hf.Runtime, RuntimeNode)
		return
	}
	if hf.Plugin == nil {
		plugin = RuntimeNode
	} else if plugin == "" {
		bad(hf.PluginRange, "Invalid plugin", `it is empty: leave it out for the node in the host's PATH, or give node's path`)
		return
	}
	hc.Plugin = hf.interpreter(dir, plugin, bad)
	switch {
	case hf.Module != nil && hf.Args != nil:
		bad(hf.ArgsRange, "Conflicting arguments", "give module (a twin.org module) or args (a script written with @taskhost/sdk), not both")
	case hf.Module != nil:
		hf.twinModule(dir, hc, bad)
	case hf.Args != nil:
		hf.script(dir, hc, bad)
	default:
		bad(hf.DefRange, "Missing module or args", `runtime = "node" runs a twin.org module (module = "./workers/imageWorker.mjs") or a script written with @taskhost/sdk (args = ["./worker.mjs"])`)
	}
	if len(hc.Options.Args) > 0 {
		hc.Options.Args = append(nodeFlags(), hc.Options.Args...)
	}
}

// checkFile reports whether path, which a handler names, is a file it can
// use, an executable one or a regular one, and says what is wrong where
// not: notFound and invalid are the diagnostics' summaries, what names the
// file in the second.
func checkFile(bad diagFunc, rng hcl.Range, path, notFound, invalid, what string, executable bool) bool {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		bad(rng, notFound, "%v", err)
	case executable && (fi.IsDir() || fi.Mode().Perm()&0o111 == 0):
		bad(rng, invalid, "%s%s is not an executable file", what, path)
	case !executable && !fi.Mode().IsRegular():
		bad(rng, invalid, "%s%s is not a regular file", what, path)
	default:
		return true
	}
	return false
}

// nodeFlags are the flags the host gives node for runtime = "node".
// --use-openssl-ca: node's TLS then looks certificates up in OpenSSL's
// store (the system's) when it needs one, instead of parsing its own
// bundle of ~140 root certificates into a store at the worker's first TLS
// context, which even a context that trusts one certificate (the host's)
// pays in Node 20: 20-60 ms of every cold start on a 2-core VM.
func nodeFlags() []string { return []string{"--use-openssl-ca"} }

// interpreter resolves a command's interpreter: a bare name through the
// host's PATH, a path relative to the config file.
func (hf *handlerFile) interpreter(dir, name string, bad diagFunc) string {
	rng := hf.PluginRange
	if hf.Plugin == nil {
		rng = hf.RuntimeRange
	}
	if !strings.ContainsRune(name, filepath.Separator) {
		path, err := exec.LookPath(name)
		if err == nil {
			path, err = filepath.Abs(path)
		}
		if err != nil {
			bad(rng, "Interpreter not found", "%q is not in the host's PATH (%v): install it, or give its path, like plugin = \"/usr/bin/%s\"", name, err, name)
			return name
		}
		return path
	}
	path := resolve(dir, name)
	checkFile(bad, rng, path, "Interpreter not found", "Invalid plugin", "", true)
	return path
}

// script resolves a command's script, the first of args that does not
// start with "-", against the config file's directory.
func (hf *handlerFile) script(dir string, hc *HandlerConfig, bad diagFunc) {
	args := append([]string(nil), (*hf.Args)...)
	for i, a := range args {
		if strings.HasPrefix(a, "-") {
			continue
		}
		args[i] = resolve(dir, a)
		checkFile(bad, hf.ArgsRange, args[i], "Script not found", "Invalid args", "script ", false)
		hc.Options.Args, hc.Options.Script = args, args[i]
		return
	}
	bad(hf.ArgsRange, "Invalid args", `%q names no script: want the script's path as the first argument that does not start with "-"`, args)
}

// twinModule makes the twin runner run the module.
func (hf *handlerFile) twinModule(dir string, hc *HandlerConfig, bad diagFunc) {
	module := resolve(dir, *hf.Module)
	if !checkFile(bad, hf.ModuleRange, module, "Module not found", "Invalid module", "", false) {
		return
	}
	runner, err := findTwinRunner(filepath.Dir(module))
	if err != nil {
		bad(hf.ModuleRange, "Twin runner not found", "%v", err)
		return
	}
	args := []string{runner, module}
	if hf.InitialiseMethod != nil && *hf.InitialiseMethod != "" {
		args = append(args, "--initialise="+*hf.InitialiseMethod)
	}
	if hf.ShutdownMethod != nil && *hf.ShutdownMethod != "" {
		args = append(args, "--shutdown="+*hf.ShutdownMethod)
	}
	// The module is the user's code: what sha256 pins.
	hc.Options.Args, hc.Options.Script = args, module
}

// twinEnv hands a twin module's handler its config, as the runner's
// engineCloneData, once the config is decoded.
func (hf *handlerFile) twinEnv(hc *HandlerConfig) {
	if hf.Module == nil || len(hc.Options.Args) == 0 {
		return
	}
	env := make(map[string]string, len(hc.Options.Env)+1)
	for k, v := range hc.Options.Env {
		env[k] = v
	}
	config := "{}"
	if len(hc.Options.Config) > 0 {
		config = string(hc.Options.Config)
	}
	env[TwinConfigEnv] = config
	hc.Options.Env = env
}

// findTwinRunner finds the twin runner of the @taskhost/sdk in the
// nearest node_modules directory at or above dir, as Node resolves a
// package.
func findTwinRunner(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		pkgDir := filepath.Join(d, "node_modules", "@taskhost", "sdk")
		b, err := os.ReadFile(filepath.Join(pkgDir, "package.json"))
		if err == nil {
			var pkg struct {
				Bin map[string]string `json:"bin"`
			}
			if err := json.Unmarshal(b, &pkg); err != nil {
				return "", fmt.Errorf("%s: %v", filepath.Join(pkgDir, "package.json"), err)
			}
			rel, ok := pkg.Bin[twinRunnerBin]
			if !ok {
				return "", fmt.Errorf("%s has no %s bin: want @taskhost/sdk with the twin runner", pkgDir, twinRunnerBin)
			}
			runner, err := filepath.EvalSymlinks(filepath.Join(pkgDir, rel))
			if err != nil {
				return "", fmt.Errorf("the twin runner of %s is not there (%v): build the package (npm run build) or reinstall it", pkgDir, err)
			}
			return runner, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no @taskhost/sdk in a node_modules directory at or above %s: run npm install @taskhost/sdk in the module's project", dir)
		}
	}
}
