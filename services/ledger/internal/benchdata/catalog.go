package benchdata

// The fixed package catalog the generated artifacts draw their inventories from: a
// Debian 12 base in six point-release snapshots (most packages unchanged between them,
// some updated, as Debian's security updates do), and the packages of three application
// stacks (Python, Node.js, Go), each in a few versions. The versions are plausible, not
// copied from any archive: nothing here claims that a real version has a real
// vulnerability.

// snapshot is one point release of the Debian base image; Weight is the percentage of
// artifacts built on it.
type snapshot struct {
	Name   string
	Weight int
}

// snapshots are the base image's point releases, oldest first. Their weights sum to 100.
var snapshots = []snapshot{
	{"12.1", 3}, {"12.2", 4}, {"12.4", 9}, {"12.5", 14}, {"12.7", 25}, {"12.9", 45},
}

// debPackage is a Debian binary package: its source package (empty: the same name) and
// its version in each snapshot (a shorter list repeats its last version).
type debPackage struct {
	Name, Source string
	Versions     []string
}

// source returns the source package's name.
func (p debPackage) source() string {
	if p.Source != "" {
		return p.Source
	}
	return p.Name
}

// version returns the package's version in snapshot s.
func (p debPackage) version(s int) string {
	return p.Versions[min(s, len(p.Versions)-1)]
}

func deb(name, source string, versions ...string) debPackage {
	return debPackage{Name: name, Source: source, Versions: versions}
}

// OpenSSL's versions, one per snapshot: the headline vulnerability is fixed in the third.
var opensslVersions = []string{"3.0.9-1", "3.0.11-1~deb12u1", "3.0.11-1~deb12u2", "3.0.13-1~deb12u1", "3.0.14-1~deb12u2", "3.0.15-1~deb12u1"}

var (
	glibc   = []string{"2.36-9+deb12u1", "2.36-9+deb12u3", "2.36-9+deb12u4", "2.36-9+deb12u7", "2.36-9+deb12u8", "2.36-9+deb12u10"}
	systemd = []string{"252.12-1~deb12u1", "252.17-1~deb12u1", "252.19-1~deb12u1", "252.22-1~deb12u1", "252.30-1~deb12u2", "252.36-1~deb12u1"}
	utilLnx = []string{"2.38.1-5+b1", "2.38.1-5+b1", "2.38.1-5+deb12u1", "2.38.1-5+deb12u1", "2.38.1-5+deb12u2", "2.38.1-5+deb12u3"}
	pam     = []string{"1.5.2-6", "1.5.2-6+deb12u1"}
	shadow  = []string{"1:4.13+dfsg1-1+b1", "1:4.13+dfsg1-1+b1", "1:4.13+dfsg1-1+b1", "1:4.13+dfsg1-1+deb12u1"}
	gcc12   = []string{"12.2.0-14", "12.2.0-14", "12.2.0-14+deb12u1"}
	krb5    = []string{"1.20.1-2", "1.20.1-2+deb12u1", "1.20.1-2+deb12u1", "1.20.1-2+deb12u1", "1.20.1-2+deb12u2", "1.20.1-2+deb12u3"}
	curl    = []string{"7.88.1-10", "7.88.1-10+deb12u1", "7.88.1-10+deb12u5", "7.88.1-10+deb12u5", "7.88.1-10+deb12u8", "7.88.1-10+deb12u12"}
	python  = []string{"3.11.2-6", "3.11.2-6", "3.11.2-6", "3.11.2-6+deb12u1", "3.11.2-6+deb12u3", "3.11.2-6+deb12u5"}
	e2fs    = []string{"1.47.0-2"}
	ncurses = []string{"6.4-4"}
)

// debBase is in every artifact.
var debBase = []debPackage{
	deb("base-files", "", "12.4+deb12u1", "12.4+deb12u2", "12.4+deb12u4", "12.4+deb12u5", "12.4+deb12u7", "12.4+deb12u9"),
	deb("base-passwd", "", "3.6.1"),
	deb("bash", "", "5.2.15-2+b2", "5.2.15-2+b2", "5.2.15-2+b2", "5.2.15-2+b2", "5.2.15-2+b7"),
	deb("bsdutils", "util-linux", utilLnx...),
	deb("ca-certificates", "", "20230311"),
	deb("coreutils", "", "9.1-1"),
	deb("dash", "", "0.5.12-2"),
	deb("debconf", "", "1.5.82"),
	deb("debian-archive-keyring", "", "2023.3", "2023.3+deb12u1"),
	deb("debianutils", "", "5.7-0.4", "5.7-0.5~deb12u1"),
	deb("diffutils", "", "1:3.8-4"),
	deb("dpkg", "", "1.21.22"),
	deb("findutils", "", "4.9.0-4"),
	deb("gcc-12-base", "gcc-12", gcc12...),
	deb("gpgv", "gnupg2", "2.2.40-1.1"),
	deb("grep", "", "3.8-5"),
	deb("gzip", "", "1.12-1"),
	deb("hostname", "", "3.23+nmu1"),
	deb("init-system-helpers", "", "1.65.2"),
	deb("libacl1", "acl", "2.3.1-3"),
	deb("libapt-pkg6.0", "apt", "2.6.1"),
	deb("apt", "", "2.6.1"),
	deb("libattr1", "attr", "1:2.5.1-4"),
	deb("libaudit-common", "audit", "1:3.0.9-1"),
	deb("libaudit1", "audit", "1:3.0.9-1"),
	deb("libblkid1", "util-linux", utilLnx...),
	deb("libbz2-1.0", "bzip2", "1.0.8-5+b1"),
	deb("libc-bin", "glibc", glibc...),
	deb("libc6", "glibc", glibc...),
	deb("libcap-ng0", "libcap-ng", "0.8.3-1+b3"),
	deb("libcap2", "", "1:2.66-4"),
	deb("libcrypt1", "libxcrypt", "1:4.4.33-2"),
	deb("libdb5.3", "db5.3", "5.3.28+dfsg2-1"),
	deb("libdebconfclient0", "cdebconf", "0.270"),
	deb("libffi8", "libffi", "3.4.4-1"),
	deb("libgcc-s1", "gcc-12", gcc12...),
	deb("libgcrypt20", "", "1.10.1-3"),
	deb("libgmp10", "gmp", "2:6.2.1+dfsg1-1.1"),
	deb("libgnutls30", "gnutls28", "3.7.9-2", "3.7.9-2", "3.7.9-2+deb12u1", "3.7.9-2+deb12u2", "3.7.9-2+deb12u3", "3.7.9-2+deb12u4"),
	deb("libgpg-error0", "", "1.46-1"),
	deb("libhogweed6", "nettle", "3.8.1-2"),
	deb("libidn2-0", "libidn2", "2.3.3-1+b1"),
	deb("liblz4-1", "lz4", "1.9.4-1"),
	deb("liblzma5", "xz-utils", "5.4.1-0.2", "5.4.1-0.2", "5.4.1-0.2", "5.4.1-1"),
	deb("libmd0", "libmd", "1.0.4-2"),
	deb("libmount1", "util-linux", utilLnx...),
	deb("libnettle8", "nettle", "3.8.1-2"),
	deb("libp11-kit0", "p11-kit", "0.24.1-2"),
	deb("libpam-modules", "pam", pam...),
	deb("libpam-modules-bin", "pam", pam...),
	deb("libpam-runtime", "pam", pam...),
	deb("libpam0g", "pam", pam...),
	deb("libpcre2-8-0", "pcre2", "10.42-1"),
	deb("libseccomp2", "libseccomp", "2.5.4-1+b3"),
	deb("libselinux1", "libselinux", "3.4-1+b6"),
	deb("libsemanage-common", "libsemanage", "3.4-1"),
	deb("libsemanage2", "libsemanage", "3.4-1+b5"),
	deb("libsepol2", "libsepol", "3.4-2.1"),
	deb("libsmartcols1", "util-linux", utilLnx...),
	deb("libsqlite3-0", "sqlite3", "3.40.1-2", "3.40.1-2", "3.40.1-2", "3.40.1-2", "3.40.1-2+deb12u1"),
	deb("libssl3", "openssl", opensslVersions...),
	deb("libstdc++6", "gcc-12", gcc12...),
	deb("libsystemd0", "systemd", systemd...),
	deb("libtasn1-6", "", "4.19.0-2", "4.19.0-2", "4.19.0-2", "4.19.0-2", "4.19.0-2+deb12u1"),
	deb("libtinfo6", "ncurses", ncurses...),
	deb("libudev1", "systemd", systemd...),
	deb("libunistring2", "libunistring", "1.0-2"),
	deb("libuuid1", "util-linux", utilLnx...),
	deb("libxxhash0", "xxhash", "0.8.1-1"),
	deb("libzstd1", "libzstd", "1.5.4+dfsg2-5"),
	deb("login", "shadow", shadow...),
	deb("logsave", "e2fsprogs", e2fs...),
	deb("mawk", "", "1.3.4.20200120-3.1"),
	deb("mount", "util-linux", utilLnx...),
	deb("ncurses-base", "ncurses", ncurses...),
	deb("ncurses-bin", "ncurses", ncurses...),
	deb("openssl", "", opensslVersions...),
	deb("passwd", "shadow", shadow...),
	deb("perl-base", "perl", "5.36.0-7", "5.36.0-7", "5.36.0-7+deb12u1", "5.36.0-7+deb12u1", "5.36.0-7+deb12u1", "5.36.0-7+deb12u2"),
	deb("sed", "", "4.9-1"),
	deb("sysvinit-utils", "sysvinit", "3.06-4"),
	deb("tar", "", "1.34+dfsg-1.2", "1.34+dfsg-1.2", "1.34+dfsg-1.2+deb12u1"),
	deb("tzdata", "", "2023c-5", "2023c-5+deb12u1", "2024a-0+deb12u1", "2024a-0+deb12u1", "2024b-0+deb12u1", "2025a-0+deb12u1"),
	deb("usr-is-merged", "usrmerge", "37~deb12u1"),
	deb("util-linux", "", utilLnx...),
	deb("zlib1g", "zlib", "1:1.2.13.dfsg-1"),
}

// debNetwork is in most artifacts (an image with curl and Kerberos); debPython in those
// of the Python stack.
var (
	debNetwork = []debPackage{
		deb("curl", "", curl...),
		deb("libcurl4", "curl", curl...),
		deb("libbrotli1", "brotli", "1.0.9-2+b6"),
		deb("libcom-err2", "e2fsprogs", e2fs...),
		deb("libgssapi-krb5-2", "krb5", krb5...),
		deb("libk5crypto3", "krb5", krb5...),
		deb("libkeyutils1", "keyutils", "1.6.3-2"),
		deb("libkrb5-3", "krb5", krb5...),
		deb("libkrb5support0", "krb5", krb5...),
		deb("libldap-2.5-0", "openldap", "2.5.13+dfsg-5"),
		deb("libnghttp2-14", "nghttp2", "1.52.0-1", "1.52.0-1", "1.52.0-1+deb12u1", "1.52.0-1+deb12u1", "1.52.0-1+deb12u2"),
		deb("libpsl5", "libpsl", "0.21.2-1"),
		deb("librtmp1", "rtmpdump", "2.4+20151223.gitfa8646d.1-2+b2"),
		deb("libsasl2-2", "cyrus-sasl2", "2.1.28+dfsg-10"),
		deb("libsasl2-modules-db", "cyrus-sasl2", "2.1.28+dfsg-10"),
		deb("libssh2-1", "libssh2", "1.10.0-3+b1"),
		deb("libexpat1", "expat", "2.5.0-1", "2.5.0-1", "2.5.0-1", "2.5.0-1+deb12u1"),
	}
	debPython = []debPackage{
		deb("libpython3.11-minimal", "python3.11", python...),
		deb("libpython3.11-stdlib", "python3.11", python...),
		deb("python3.11", "", python...),
		deb("python3.11-minimal", "python3.11", python...),
		deb("libmpdec3", "mpdecimal", "2.5.1-2"),
		deb("libncursesw6", "ncurses", ncurses...),
		deb("libreadline8", "readline", "8.2-1.3"),
		deb("readline-common", "readline", "8.2-1.3"),
		deb("media-types", "", "10.0.0"),
	}
)

// appPackage is a package of an application stack, in its versions, oldest first.
type appPackage struct {
	Namespace, Name string
	Versions        []string
}

func app(namespace, name string, versions ...string) appPackage {
	return appPackage{Namespace: namespace, Name: name, Versions: versions}
}

// stack is an application stack: its package URL type and packages, of which an
// artifact takes Take (the first Core always, the rest drawn).
type stack struct {
	Name, Type string
	Core, Take int
	Packages   []appPackage
}

var stacks = []struct {
	stack
	Weight int // percent of artifacts
}{
	{stack{"python", "pypi", 6, 10, pypiPackages}, 45},
	{stack{"node", "npm", 8, 14, npmPackages}, 40},
	{stack{"go", "golang", 4, 8, goPackages}, 15},
}

var pypiPackages = []appPackage{
	app("", "pip", "23.0.1", "23.3.2", "24.2"),
	app("", "setuptools", "65.5.1", "68.2.2", "70.0.0", "75.1.0"),
	app("", "wheel", "0.40.0", "0.42.0", "0.44.0"),
	app("", "requests", "2.28.2", "2.31.0", "2.32.3"),
	app("", "urllib3", "1.26.18", "2.0.7", "2.2.3"),
	app("", "certifi", "2023.7.22", "2024.2.2", "2024.8.30"),
	app("", "idna", "3.4", "3.6", "3.10"),
	app("", "charset-normalizer", "3.1.0", "3.3.2"),
	app("", "flask", "2.2.5", "2.3.3", "3.0.3"),
	app("", "werkzeug", "2.2.3", "2.3.8", "3.0.6"),
	app("", "jinja2", "3.1.2", "3.1.4"),
	app("", "markupsafe", "2.1.3", "2.1.5"),
	app("", "itsdangerous", "2.1.2", "2.2.0"),
	app("", "click", "8.1.3", "8.1.7"),
	app("", "gunicorn", "20.1.0", "21.2.0", "22.0.0", "23.0.0"),
	app("", "django", "3.2.20", "4.2.11", "4.2.16", "5.0.9"),
	app("", "sqlalchemy", "1.4.49", "2.0.25", "2.0.35"),
	app("", "psycopg2-binary", "2.9.6", "2.9.9"),
	app("", "pydantic", "1.10.13", "2.5.3", "2.9.2"),
	app("", "pydantic-core", "2.14.6", "2.23.4"),
	app("", "typing-extensions", "4.7.1", "4.9.0", "4.12.2"),
	app("", "pyyaml", "6.0", "6.0.1", "6.0.2"),
	app("", "cryptography", "39.0.2", "41.0.7", "42.0.8", "43.0.1"),
	app("", "cffi", "1.15.1", "1.16.0", "1.17.1"),
	app("", "pycparser", "2.21", "2.22"),
	app("", "six", "1.16.0"),
	app("", "python-dateutil", "2.8.2", "2.9.0.post0"),
	app("", "boto3", "1.28.57", "1.34.34", "1.35.40"),
	app("", "botocore", "1.31.57", "1.34.34", "1.35.40"),
	app("", "jmespath", "1.0.1"),
	app("", "s3transfer", "0.7.0", "0.10.3"),
	app("", "numpy", "1.24.4", "1.26.4", "2.1.2"),
	app("", "pandas", "2.0.3", "2.2.3"),
	app("", "pytz", "2023.3", "2024.2"),
	app("", "redis", "4.6.0", "5.0.8"),
	app("", "celery", "5.3.4", "5.4.0"),
	app("", "kombu", "5.3.2", "5.4.2"),
	app("", "protobuf", "4.24.4", "4.25.5", "5.28.2"),
	app("", "grpcio", "1.59.3", "1.66.2"),
	app("", "structlog", "23.1.0", "24.4.0"),
}

var npmPackages = []appPackage{
	app("", "express", "4.18.2", "4.19.2", "4.21.1"),
	app("", "body-parser", "1.20.1", "1.20.2", "1.20.3"),
	app("", "cookie", "0.5.0", "0.6.0", "0.7.1"),
	app("", "debug", "2.6.9", "4.3.4", "4.3.7"),
	app("", "ms", "2.0.0", "2.1.3"),
	app("", "lodash", "4.17.20", "4.17.21"),
	app("", "axios", "0.27.2", "1.6.8", "1.7.7"),
	app("", "follow-redirects", "1.15.2", "1.15.6", "1.15.9"),
	app("", "semver", "5.7.1", "6.3.1", "7.5.4", "7.6.3"),
	app("", "qs", "6.11.0", "6.13.0"),
	app("", "path-to-regexp", "0.1.7", "0.1.10", "0.1.12"),
	app("", "send", "0.18.0", "0.19.0"),
	app("", "serve-static", "1.15.0", "1.16.2"),
	app("", "mime", "1.6.0", "3.0.0"),
	app("", "mime-types", "2.1.35"),
	app("", "safe-buffer", "5.2.1"),
	app("", "inherits", "2.0.4"),
	app("", "depd", "2.0.0"),
	app("", "http-errors", "2.0.0"),
	app("", "statuses", "2.0.1"),
	app("", "on-finished", "2.4.1"),
	app("", "finalhandler", "1.2.0", "1.3.1"),
	app("", "encodeurl", "1.0.2", "2.0.0"),
	app("", "escape-html", "1.0.3"),
	app("", "etag", "1.8.1"),
	app("", "fresh", "0.5.2"),
	app("", "range-parser", "1.2.1"),
	app("", "raw-body", "2.5.1", "2.5.2"),
	app("", "iconv-lite", "0.4.24", "0.6.3"),
	app("", "type-is", "1.6.18"),
	app("", "accepts", "1.3.8"),
	app("", "negotiator", "0.6.3"),
	app("", "vary", "1.1.2"),
	app("", "content-type", "1.0.5"),
	app("@babel", "runtime", "7.22.6", "7.23.9", "7.25.7"),
	app("@types", "node", "18.17.1", "20.11.30", "22.7.5"),
	app("", "ws", "7.5.9", "8.13.0", "8.17.1", "8.18.0"),
	app("", "jsonwebtoken", "8.5.1", "9.0.0", "9.0.2"),
	app("", "uuid", "8.3.2", "9.0.1", "10.0.0"),
	app("", "dotenv", "16.3.1", "16.4.5"),
	app("", "chalk", "4.1.2", "5.3.0"),
	app("", "minimist", "1.2.6", "1.2.8"),
	app("", "yargs", "17.7.2"),
	app("", "tslib", "2.6.2", "2.7.0"),
	app("", "pg", "8.11.3", "8.13.0"),
	app("", "ioredis", "5.3.2", "5.4.1"),
	app("", "winston", "3.10.0", "3.15.0"),
	app("@aws-sdk", "client-s3", "3.427.0", "3.540.0", "3.670.0"),
}

var goPackages = []appPackage{
	app("github.com/gin-gonic", "gin", "v1.9.0", "v1.9.1", "v1.10.0"),
	app("github.com/go-chi", "chi", "v1.5.4", "v5.0.12", "v5.1.0"),
	app("golang.org/x", "net", "v0.17.0", "v0.23.0", "v0.30.0"),
	app("golang.org/x", "crypto", "v0.14.0", "v0.21.0", "v0.28.0"),
	app("golang.org/x", "sys", "v0.13.0", "v0.18.0", "v0.26.0"),
	app("golang.org/x", "text", "v0.13.0", "v0.14.0", "v0.19.0"),
	app("google.golang.org", "grpc", "v1.58.3", "v1.62.1", "v1.67.1"),
	app("google.golang.org", "protobuf", "v1.31.0", "v1.33.0", "v1.35.1"),
	app("github.com/prometheus", "client_golang", "v1.17.0", "v1.19.0", "v1.20.5"),
	app("github.com/sirupsen", "logrus", "v1.9.0", "v1.9.3"),
	app("github.com/spf13", "cobra", "v1.7.0", "v1.8.1"),
	app("github.com/jackc/pgx", "v5", "v5.4.3", "v5.5.5", "v5.7.1"),
	app("github.com/redis/go-redis", "v9", "v9.2.1", "v9.5.1", "v9.7.0"),
	app("github.com/golang-jwt/jwt", "v5", "v5.0.0", "v5.2.1"),
	app("github.com/google", "uuid", "v1.3.1", "v1.6.0"),
	app("gopkg.in", "yaml.v3", "v3.0.1"),
	app("github.com/stretchr", "testify", "v1.8.4", "v1.9.0"),
	app("go.opentelemetry.io", "otel", "v1.19.0", "v1.24.0", "v1.31.0"),
	app("github.com/aws/aws-sdk-go-v2/service", "s3", "v1.40.2", "v1.53.0", "v1.65.3"),
	app("", "stdlib", "1.21.3", "1.22.2", "1.23.2"),
}
