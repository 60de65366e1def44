//! Loading the config: defaults, the sectioned file, flag and env precedence, old flat keys,
//! closed sets and the duration rule.

use super::*;
use clap::Parser;

/// `tessera serve`'s flags alone, to parse as the binary does.
#[derive(Debug, Parser)]
struct Serve {
    #[command(flatten)]
    options: ServeOptions,
}

fn flags(args: &[&str]) -> Result<ServeOptions, clap::Error> {
    Serve::try_parse_from(std::iter::once("serve").chain(args.iter().copied())).map(|s| s.options)
}

/// Loads `text` as the config file, under `flags`.
fn load(text: &str, cli: ServeOptions) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    std::fs::write(&path, text).unwrap();
    Config::load(cli, Some(&path))
}

fn clustered() -> ServeOptions {
    ServeOptions {
        peer_listen: Some("127.0.0.1:7100".parse().unwrap()),
        certs: Some("/certs".into()),
        ..Default::default()
    }
}

/// The example of README's Configuration section.
fn readme_example() -> String {
    let readme = include_str!("../../../README.md");
    let section = &readme[readme.find("## Configuration").unwrap()..];
    let start = section.find("```toml\n").unwrap() + "```toml\n".len();
    section[start..start + section[start..].find("```").unwrap()].to_string()
}

#[test]
fn flags_override_file_override_defaults() {
    let cli = ServeOptions {
        data_dir: Some("/y".into()),
        ..Default::default()
    };
    let c = load(
        "listen = \"127.0.0.1:9999\"\nnode_id = 7\ndata_dir = \"/x\"\n",
        cli,
    )
    .unwrap();
    assert_eq!(c.listen.port(), 9999);
    assert_eq!(c.node_id, 7);
    assert_eq!(c.data_dir, PathBuf::from("/y"));
    let d = Config::load(ServeOptions::default(), None).unwrap();
    assert_eq!(d.listen.to_string(), "127.0.0.1:9292");
    assert_eq!(d.reaper, ReaperConfig::default());
    assert_eq!(d.auditor, AuditorConfig::default());
    assert_eq!(d.replicator, ReplicatorConfig::default());
    assert_eq!(d.log_format, LogFormat::Text);
    assert!(!d.api.delayed_delete);
    assert_eq!(d.api.quotas, tessera_domain::Quotas::default());
    assert_eq!(d.data_dir, PathBuf::from("./data"));
    assert!(d.cluster.is_none());
    assert!(d.renamed.is_empty());
    // An empty file is the defaults.
    let e = load("", ServeOptions::default()).unwrap();
    assert_eq!(
        (e.listen, e.reaper, e.node_id),
        (d.listen, d.reaper, d.node_id)
    );
}

#[test]
fn every_section_is_read() {
    let text = "
        node_id = 4
        node_name = \"n4\"
        zone = \"rack-2\"
        capacity = 500
        log_format = \"json\"
        [api]
        max_json_body = 2048
        delayed_delete = true
        image_property_quota = 5
        image_tag_quota = -1
        image_member_quota = 0
        [raft]
        max_voters = 5
        snapshot_logs = 100
        [gossip]
        probe = \"200ms\"
        suspect = 2
        [replicator]
        replicas = 2
        interval = \"30s\"
        batch = 8
        handoff_grace = \"10m\"
        [auditor]
        rate = \"64MiB\"
        period = \"12h\"
        [reaper]
        interval = 60
        grace = \"1d\"
        scrub_time = \"90m\"
        upload_timeout = 1.5
    ";
    let c = load(text, clustered()).unwrap();
    let secs = Duration::from_secs;
    assert_eq!(c.node_id, 4);
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!((c.api.max_json_body, c.api.delayed_delete), (2048, true));
    let q = c.api.quotas;
    assert_eq!(
        (
            q.image_property_quota,
            q.image_tag_quota,
            q.image_member_quota
        ),
        (5, -1, 0)
    );
    assert_eq!(c.replicator.interval, secs(30));
    assert_eq!(c.replicator.batch, 8);
    assert_eq!(c.replicator.handoff_grace, secs(600));
    assert_eq!((c.auditor.rate, c.auditor.period), (64 << 20, secs(43_200)));
    assert_eq!(c.reaper.interval, secs(60));
    assert_eq!(c.reaper.grace, secs(86_400));
    assert_eq!(c.reaper.scrub_time, secs(5400));
    assert_eq!(c.reaper.upload_timeout, Duration::from_millis(1500));
    let cl = c.cluster.unwrap();
    assert_eq!((cl.node_name.as_str(), cl.zone.as_str()), ("n4", "rack-2"));
    assert_eq!((cl.capacity, cl.replicas, cl.max_voters), (500, 2, 5));
    assert_eq!(cl.snapshot_logs, 100);
    assert_eq!(cl.gossip.probe, Duration::from_millis(200));
    assert_eq!(cl.gossip.suspect, secs(2));
}

#[test]
fn the_readme_example_loads() {
    let c = load(&readme_example(), ServeOptions::default()).unwrap();
    assert!(c.renamed.is_empty());
    assert!(c.cluster.is_some());
}

#[test]
fn loop_settings_come_from_file_and_flags() {
    let text = "[api]\ndelayed_delete = true\n[reaper]\nscrub_time = 5\ngrace = 9\n\
                [auditor]\nrate = 1000\n";
    let cli = flags(&[
        "--auditor-period",
        "60",
        "--upload-timeout=8",
        "--scrub-time",
        "7",
    ])
    .unwrap();
    let c = load(text, cli).unwrap();
    assert!(c.api.delayed_delete);
    assert_eq!(c.reaper.scrub_time, Duration::from_secs(7));
    assert_eq!(c.reaper.grace, Duration::from_secs(9));
    assert_eq!(c.reaper.upload_timeout, Duration::from_secs(8));
    assert_eq!(c.reaper.interval, ReaperConfig::default().interval);
    assert_eq!(c.auditor.rate, 1000);
    assert_eq!(c.auditor.period, Duration::from_secs(60));
}

#[test]
fn flags_used_by_the_testbed_and_tests_still_parse() {
    let cli = flags(&[
        "--data-dir",
        "/d",
        "--listen",
        "127.0.0.1:9300",
        "--node-id",
        "2",
        "--node-name",
        "n2",
        "--peer-listen",
        "127.0.0.1:7102",
        "--certs",
        "/c",
        "--join",
        "127.0.0.1:7101",
        "--snapshot-logs=20",
        "--replicator-interval=3",
        "--reaper-interval=2",
        "--reaper-grace=45",
        "--handoff-grace=10",
        "--auditor-period=20",
        "--auditor-rate=1048576",
        "--delayed-delete=true",
        "--scrub-time=3",
        "--upload-timeout=5",
        "--unsafe-write-behind-ms=50",
        "--gossip-probe-ms=100",
        "--gossip-suspect-ms=400",
        "--max-voters=5",
        "--log-format=json",
    ])
    .unwrap();
    let c = Config::load(cli, None).unwrap();
    assert_eq!(c.reaper.grace, Duration::from_secs(45));
    assert_eq!(c.replicator.handoff_grace, Duration::from_secs(10));
    assert_eq!(c.auditor.period, Duration::from_secs(20));
    assert_eq!(c.log_format, LogFormat::Json);
    let cl = c.cluster.unwrap();
    assert_eq!(cl.unsafe_write_behind, Some(Duration::from_millis(50)));
    assert_eq!(cl.gossip.suspect, Duration::from_millis(400));
    assert_eq!((cl.max_voters, cl.snapshot_logs), (5, 20));
}

#[test]
fn env_is_read_like_a_flag_and_the_flag_wins() {
    // Only this test sets this variable.
    std::env::set_var("TESSERA_IMAGE_SIZE_CAP", "4096");
    let from_env = flags(&[]).unwrap();
    let from_flag = flags(&["--image-size-cap", "8192"]).unwrap();
    std::env::remove_var("TESSERA_IMAGE_SIZE_CAP");
    let file = "[api]\nimage_size_cap = 1024\n";
    assert_eq!(load(file, from_env).unwrap().api.image_size_cap, 4096);
    assert_eq!(load(file, from_flag).unwrap().api.image_size_cap, 8192);
    assert_eq!(
        load(file, ServeOptions::default())
            .unwrap()
            .api
            .image_size_cap,
        1024
    );
}

#[test]
fn old_flat_keys_still_load_and_say_their_new_name() {
    let old = "reaper_grace = 90000\nhandoff_grace = 45\nauditor_rate = 1000\n\
               max_voters = 5\ngossip_probe_ms = 100\ndelayed_delete = true\n";
    let c = load(old, clustered()).unwrap();
    assert_eq!(c.reaper.grace, Duration::from_secs(90_000));
    assert_eq!(c.replicator.handoff_grace, Duration::from_secs(45));
    assert_eq!(c.auditor.rate, 1000);
    assert!(c.api.delayed_delete);
    let cl = c.cluster.as_ref().unwrap();
    assert_eq!(
        (cl.max_voters, cl.gossip.probe),
        (5, Duration::from_millis(100))
    );
    let said: Vec<String> = c.renamed.iter().map(ToString::to_string).collect();
    assert!(
        said.contains(&"`reaper_grace` is now `[reaper] grace`".to_string()),
        "{said:?}"
    );
    assert!(said.contains(&"`gossip_probe_ms` is now `[gossip] probe`".to_string()));
    assert_eq!(said.len(), 6);
}

#[test]
fn an_old_key_next_to_its_new_one_names_the_new_one() {
    let err = load(
        "reaper_grace = 5\n[reaper]\ngrace = 6\n",
        ServeOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ConfigError::Renamed(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "`reaper_grace` is now `[reaper] grace`: write it there only"
    );
    let err = load("gossip_probe_ms = \"1s\"\n", clustered()).unwrap_err();
    assert!(err.to_string().contains("`[gossip] probe`"), "{err}");
    let err = load("unsafe_write_behind_ms = 5\n", ServeOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("--unsafe-write-behind-ms"),
        "{err}"
    );
}

#[test]
fn closed_sets_refuse_other_values() {
    let err = flags(&["--log-format", "jsno"]).unwrap_err().to_string();
    assert!(
        err.contains("jsno") && err.contains("[possible values: text, json]"),
        "{err}"
    );
    let err = flags(&["--max-voters", "4"]).unwrap_err().to_string();
    assert!(err.contains("[possible values: 3, 5]"), "{err}");
    let err = load("log_format = \"jsno\"\n", ServeOptions::default()).unwrap_err();
    assert!(matches!(err, ConfigError::Parse { .. }), "{err}");
    assert!(err.to_string().contains("jsno"), "{err}");
    let err = load("[raft]\nmax_voters = 4\n", ServeOptions::default()).unwrap_err();
    assert!(err.to_string().contains("3 or 5"), "{err}");
}

#[test]
fn durations_follow_one_rule_in_file_and_flags() {
    let err = load(
        "[replicator]\nhandoff_grace = 1e300\n",
        ServeOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ConfigError::Setting { .. }), "{err}");
    let said = err.to_string();
    assert!(said.starts_with("[replicator] handoff_grace in "), "{said}");
    assert!(said.ends_with("must be at most 365d"), "{said}");
    let cli = flags(&["--handoff-grace", "1e300"]).unwrap();
    let err = Config::load(cli, None).unwrap_err().to_string();
    assert_eq!(
        err,
        "--handoff-grace: bad value \"1e300\" for handoff_grace: must be at most 365d"
    );
    for bad in ["\"-1\"", "-1", "\"NaN\"", "\"soon\"", "\"5 fortnights\""] {
        let text = format!("[reaper]\ngrace = {bad}\n");
        assert!(load(&text, ServeOptions::default()).is_err(), "{bad}");
    }
    let err = load("[gossip]\nprobe = \"soon\"\n", clustered()).unwrap_err();
    assert!(matches!(err, ConfigError::Parse { .. }), "{err}");
    assert!(err.to_string().contains("expected a duration"), "{err}");
    // A flag wins over a bad file value without reading it.
    let cli = flags(&["--reaper-grace", "1h", "--upload-timeout", "30m"]).unwrap();
    let c = load("[reaper]\ngrace = \"1e300\"\n", cli).unwrap();
    assert_eq!(c.reaper.grace, Duration::from_secs(3600));
    // Runtime bounds apply at startup too: the reaper's interval is at least a second.
    let cli = flags(&["--reaper-interval", "0"]).unwrap();
    assert!(Config::load(cli, None).is_err());
}

/// The reaper's grace must exceed the upload timeout, whichever of file and flags sets them
/// and in whatever order: an upload's first chunks would be reaped before it ends.
#[test]
fn grace_must_exceed_the_upload_timeout_at_startup() {
    let cli = flags(&["--reaper-grace", "45"]).unwrap();
    let err = Config::load(cli, None).unwrap_err().to_string();
    assert_eq!(
        err,
        "[reaper] grace and upload_timeout (--reaper-grace, --upload-timeout): \
         bad value \"45s\" for grace: must be greater than upload_timeout (1d)"
    );
    let err = load(
        "[reaper]\ngrace = 0\nupload_timeout = 0\n",
        ServeOptions::default(),
    );
    assert!(err.is_err());
    let cli = flags(&["--upload-timeout", "40"]).unwrap();
    let c = load("[reaper]\ngrace = 45\n", cli).unwrap();
    assert_eq!(c.reaper.upload_timeout, Duration::from_secs(40));
}

#[test]
fn unknown_keys_and_bad_identities_are_errors() {
    assert!(load("lisen = \"x\"\n", ServeOptions::default()).is_err());
    let err = load("[reaper]\ngraze = 1\n", ServeOptions::default()).unwrap_err();
    assert!(err.to_string().contains("graze"), "{err}");
    let err = load("[reaper]\nreaper_grace = 1\n", ServeOptions::default()).unwrap_err();
    assert!(err.to_string().contains("`grace`"), "{err}");
    assert!(load("[nosuch]\n", ServeOptions::default()).is_err());
    let cli = ServeOptions {
        default_identity: Some("nobody".into()),
        ..Default::default()
    };
    assert!(Config::load(cli, None).is_err());
}

#[test]
fn gossip_options_have_defaults_and_limits() {
    let clustered_with = |f: &dyn Fn(&mut ServeOptions)| {
        let mut o = clustered();
        f(&mut o);
        Config::load(o, None)
    };
    let c = clustered_with(&|_| {}).unwrap().cluster.unwrap();
    assert_eq!(
        (c.zone.as_str(), c.capacity),
        (DEFAULT_ZONE, DEFAULT_CAPACITY)
    );
    assert_eq!(c.gossip.probe, std::time::Duration::from_secs(1));
    let c = clustered_with(&|o| {
        o.zone = Some("rack-2".into());
        o.capacity = Some(500);
        o.gossip_probe_ms = Some(100);
        o.gossip_suspect_ms = Some(300);
    })
    .unwrap()
    .cluster
    .unwrap();
    assert_eq!((c.zone.as_str(), c.capacity), ("rack-2", 500));
    assert_eq!(c.gossip.suspect, std::time::Duration::from_millis(300));
    assert!(clustered_with(&|o| o.zone = Some(String::new())).is_err());
    assert!(clustered_with(&|o| o.zone = Some("z".repeat(MAX_LABEL + 1))).is_err());
    assert!(clustered_with(&|o| o.gossip_suspect_ms = Some(10)).is_err());
    let err = load("[gossip]\nprobe = \"5ms\"\n", clustered()).unwrap_err();
    assert!(matches!(err, ConfigError::GossipTimings), "{err}");
}

#[test]
fn noauth_stays_on_loopback_unless_told_otherwise() {
    let open = flags(&["--listen", "0.0.0.0:9292"]).unwrap();
    assert!(matches!(
        Config::load(open, None),
        Err(ConfigError::NoauthListen(_))
    ));
    let told = flags(&["--listen", "0.0.0.0:9292", "--insecure-noauth"]).unwrap();
    assert!(matches!(
        Config::load(told, None).unwrap().auth,
        Auth::Noauth
    ));
    let in_file = load(
        "listen = \"0.0.0.0:9292\"\n[auth]\ninsecure_noauth = true\n",
        ServeOptions::default(),
    );
    assert!(in_file.is_ok());
    assert!(flags(&["--auth", "keystnoe"]).is_err(), "closed set");
}

#[test]
fn keystone_mode_needs_its_credentials_and_may_listen_anywhere() {
    let full = "listen = \"0.0.0.0:9292\"\n[auth]\nmode = \"keystone\"\n\
                auth_url = \"http://127.0.0.1:5000/v3/\"\nusername = \"glance\"\n\
                password = \"pw\"\nproject_name = \"service\"\ntoken_cache_time = \"2m\"\n";
    let Auth::Keystone(k) = load(full, ServeOptions::default()).unwrap().auth else {
        panic!("keystone mode expected");
    };
    assert_eq!(k.www_authenticate_uri, "http://127.0.0.1:5000");
    assert_eq!(k.credentials.user_domain_name, "Default");
    assert_eq!(k.token_cache_time, Duration::from_secs(120));
    assert_eq!(k.limits, None);
    // Unified limits: the endpoint named, or looked up by type (Glance's `[oslo_limit]`).
    let by_id = format!("{full}[limits]\nuse_keystone_limits = true\nendpoint_id = \"e1\"\n");
    let Auth::Keystone(k) = load(&by_id, ServeOptions::default()).unwrap().auth else {
        panic!("keystone mode expected");
    };
    assert_eq!(k.limits, Some(LimitsEndpoint::Id("e1".into())));
    let lookup =
        format!("{full}[limits]\nuse_keystone_limits = true\nendpoint_region_name = \"R\"\n");
    let Auth::Keystone(k) = load(&lookup, ServeOptions::default()).unwrap().auth else {
        panic!("keystone mode expected");
    };
    assert_eq!(
        k.limits,
        Some(LimitsEndpoint::Lookup {
            service_type: "image".into(),
            region: Some("R".into()),
            interface: "public".into()
        })
    );
    // Without Keystone there is nowhere to read limits from.
    assert!(matches!(
        load(
            "[limits]\nuse_keystone_limits = true\n",
            ServeOptions::default()
        ),
        Err(ConfigError::LimitsNeedKeystone)
    ));
    let no_password = full.replace("password = \"pw\"\n", "");
    assert!(matches!(
        load(&no_password, ServeOptions::default()),
        Err(ConfigError::KeystoneSetting("password"))
    ));
    // The flag switches a file's noauth to Keystone (and then needs the credentials).
    let cli = flags(&["--auth", "keystone"]).unwrap();
    assert!(matches!(
        load("", cli),
        Err(ConfigError::KeystoneSetting("auth_url"))
    ));
}

#[test]
fn a_policy_file_is_loaded_and_a_broken_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, "\"add_image\": \"role:admin\"\n").unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "get_image: ''\n\"add_image\": \"role:admin or (\"\n").unwrap();
    let file = format!("[api]\npolicy_file = {:?}\n", good.display().to_string());
    let c = load(&file, ServeOptions::default()).unwrap();
    assert!(format!("{:?}", c.api.policy).contains("good.yaml"));
    let cli = flags(&["--policy-file", bad.to_str().unwrap()]).unwrap();
    let e = load(&file, cli).unwrap_err().to_string();
    assert!(
        e.contains("bad.yaml, line 2: rule \"add_image\" at column"),
        "{e}"
    );
}

#[test]
fn a_quota_flag_wins_over_the_file_and_may_be_negative() {
    let file = "[api]\nimage_tag_quota = 3\nimage_member_quota = 4\n";
    let c = load(file, flags(&["--image-tag-quota", "-1"]).unwrap()).unwrap();
    assert_eq!(
        (
            c.api.quotas.image_tag_quota,
            c.api.quotas.image_member_quota
        ),
        (-1, 4)
    );
    assert_eq!(c.api.quotas.image_property_quota, 128);
}

#[test]
fn a_property_protection_file_is_loaded_and_a_contradictory_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.conf");
    std::fs::write(&good, "[.*]\ncreate=@\nread=@\nupdate=@\ndelete=@\n").unwrap();
    let bad = dir.path().join("bad.conf");
    std::fs::write(&bad, "[^x_]\ncreate=@,!\nread=@\nupdate=@\ndelete=@\n").unwrap();
    let file = format!(
        "[api]\nproperty_protection_file = {:?}\nproperty_protection_rule_format = \"policies\"\n",
        good.display().to_string()
    );
    assert!(load(&file, ServeOptions::default())
        .unwrap()
        .api
        .protections
        .is_some());
    let cli = flags(&["--property-protection-file", bad.to_str().unwrap()]).unwrap();
    let e = load("", cli).unwrap_err().to_string();
    assert!(e.contains("bad.conf, section [^x_]: create = @,!"), "{e}");
    assert!(flags(&["--property-protection-rule-format", "nope"]).is_err());
}

#[test]
fn api_server_limits_are_read_and_never_zero() {
    let text = "[api]\nheader_timeout = \"5s\"\nbody_timeout = 90\nmax_connections = 10\n\
                max_uploads = 4\nmax_uploads_per_project = 2\n";
    let c = load(text, ServeOptions::default()).unwrap();
    assert_eq!(c.http.header_timeout, Duration::from_secs(5));
    assert_eq!(c.http.max_connections, 10);
    assert_eq!(c.api.body_timeout, Duration::from_secs(90));
    assert_eq!((c.api.uploads.per_node, c.api.uploads.per_project), (4, 2));
    let d = Config::load(ServeOptions::default(), None).unwrap();
    assert_eq!(d.http, HttpLimits::default());
    for key in [
        "header_timeout",
        "max_connections",
        "max_uploads_per_project",
    ] {
        let err = load(&format!("[api]\n{key} = 0\n"), ServeOptions::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("[api] {key} must be more than zero")
        );
    }
}

#[test]
fn import_sections_are_glances() {
    let text = "
        [task]
        lease = \"5s\"
        time_to_live = \"1h\"
        [import_filtering_opts]
        allowed_hosts = [\"10.0.0.5\"]
        allowed_ports = []
        [image_import_opts]
        image_import_plugins = [\"inject_image_metadata\"]
        [inject_metadata_properties]
        inject = { property1 = \"value1\" }
    ";
    let c = load(text, ServeOptions::default()).unwrap();
    assert_eq!(c.tasks.lease, Duration::from_secs(5));
    assert_eq!(c.tasks.time_to_live, Duration::from_secs(3600));
    let f = &c.import.filter;
    assert_eq!(f.allowed_hosts, vec!["10.0.0.5".to_string()]);
    assert!(f.allowed_ports.is_empty());
    assert_eq!(
        f.allowed_schemes,
        vec!["http".to_string(), "https".to_string()]
    );
    let inject = c.import.inject.unwrap();
    assert_eq!(inject.ignore_user_roles, vec!["admin".to_string()]);
    assert_eq!(inject.inject["property1"], "value1");
    // Without the plugin listed its settings do nothing; a plugin Tessera lacks is refused.
    let off = load(
        "[inject_metadata_properties]\ninject = { a = \"b\" }\n",
        ServeOptions::default(),
    );
    assert!(off.unwrap().import.inject.is_none());
    let e = load(
        "[image_import_opts]\nimage_import_plugins = [\"no_op\"]\n",
        ServeOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("no_op"), "{e}");
}

#[test]
fn import_methods_plugins_and_format_rules_are_glances() {
    use tessera_domain::import::plugins::Transform;
    use tessera_domain::import::ImportMethod;
    let c = load("", ServeOptions::default()).unwrap();
    assert_eq!(c.import.methods, ImportMethod::DEFAULT.to_vec());
    assert_eq!(c.import.download_properties[0], "hw_");
    assert!(c.import.require_format_match);
    assert!(c.import.transforms.is_empty());
    assert!(c.import.scratch_dir.ends_with("import-scratch"));
    let text = "
        enabled_import_methods = [\"web-download\"]
        [image_format]
        require_image_format_match = false
        [image_import_opts]
        image_import_plugins = [\"image_decompression\", \"image_conversion\"]
        [image_conversion]
        output_format = \"qcow2\"
        cpu_time = \"1m\"
        timeout = \"5m\"
    ";
    let c = load(text, ServeOptions::default()).unwrap();
    assert_eq!(c.import.methods, vec![ImportMethod::WebDownload]);
    assert!(!c.import.require_format_match);
    assert_eq!(c.import.transforms.len(), 2);
    assert_eq!(c.import.transforms[0], Transform::Decompress);
    let Transform::Convert(conv) = &c.import.transforms[1] else {
        panic!("conversion expected");
    };
    assert_eq!(conv.output_format, "qcow2");
    assert_eq!(conv.limits.cpu_seconds, 60);
    assert_eq!(conv.limits.timeout, Duration::from_secs(300));
    let off = load("enabled_import_methods = []\n", ServeOptions::default()).unwrap();
    assert!(off.import.methods.is_empty());
    let remote = "enabled_import_methods = [\"glance-download\"]\n\
        [glance_download_properties]\nextra_properties = [\"os_\"]\n";
    let remote = load(remote, ServeOptions::default()).unwrap();
    assert_eq!(remote.import.methods, vec![ImportMethod::GlanceDownload]);
    assert_eq!(remote.import.download_properties, vec!["os_".to_string()]);
    for bad in [
        "enabled_import_methods = [\"nope\"]\n",
        "[image_import_opts]\nimage_import_plugins = [\"image_conversion\"]\n[image_conversion]\noutput_format = \"vdi\"\n",
    ] {
        assert!(load(bad, ServeOptions::default()).is_err(), "{bad}");
    }
}

#[test]
fn the_image_cache_is_off_unless_asked_and_flags_win() {
    let none = ServeOptions::default;
    assert_eq!(load("", none()).unwrap().image_cache, None);
    let file = "[image_cache]\nenabled = true\nmax_size = 1000\n";
    assert_eq!(load(file, none()).unwrap().image_cache, Some(1000));
    let cli = flags(&["--image-cache-max-size", "2000"]).unwrap();
    assert_eq!(load(file, cli).unwrap().image_cache, Some(2000));
    let off = flags(&["--image-cache", "false"]).unwrap();
    assert_eq!(load(file, off).unwrap().image_cache, None);
    let on = flags(&["--image-cache", "true"]).unwrap();
    assert_eq!(
        load("", on).unwrap().image_cache,
        Some(tessera_replication::cache::DEFAULT_MAX_SIZE)
    );
    assert!(
        load("[image_cache]\nsize = 1\n", none()).is_err(),
        "unknown key"
    );
}
