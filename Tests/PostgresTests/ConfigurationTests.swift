import Postgres
import Testing

@Suite struct ConfigurationTests {
    @Test func parsesAFullURL() throws {
        let configuration = try PostgresConfiguration(
            "postgres://app:s%40cret@db.example.com:6432/switch%20board?sslmode=require&application_name=sb")
        #expect(configuration["user"] == "app")
        #expect(configuration["password"] == "s@cret")
        #expect(configuration["host"] == "db.example.com")
        #expect(configuration["port"] == "6432")
        #expect(configuration["dbname"] == "switch board")
        #expect(configuration["sslmode"] == "require")
        #expect(configuration["application_name"] == "sb")
    }

    @Test func parsesIPv6AndSeveralHosts() throws {
        let v6 = try PostgresConfiguration("postgresql://[::1]:5433/db")
        #expect(v6["host"] == "::1")
        #expect(v6["port"] == "5433")
        let multi = try PostgresConfiguration("postgres://a:1,b:2/db")
        #expect(multi["host"] == "a,b")
        #expect(multi["port"] == "1,2")
    }

    @Test func acceptsConninfoStrings() throws {
        let configuration = try PostgresConfiguration("host=localhost port=5432 dbname=x user=y")
        #expect(configuration["host"] == "localhost")
        #expect(configuration["dbname"] == "x")
    }

    @Test(arguments: [
        ("mysql://localhost/db", "scheme 'mysql'"),
        ("postgres://localhost:99999/db", "port '99999'"),
        ("postgres://localhost:abc/db", "port 'abc'"),
        ("postgres://[::1/db", "closing ']'"),
        ("postgres://localhost/db?nonsense=1", "unknown query parameter 'nonsense'"),
        ("postgres://localhost/db?sslmode", "has no '=value'"),
        ("postgres://u%zz@localhost/db", "percent-encoding in user"),
        ("just-a-hostname", "must look like postgres://"),
        ("", "empty"),
        ("host=localhost port", "malformed conninfo"),
    ])
    func rejectsMalformedURLsClearly(input: String, expected: String) {
        let error = #expect(throws: PostgresError.self) { try PostgresConfiguration(input) }
        #expect(error?.kind == .invalidConfiguration)
        #expect(error?.description.contains(expected) == true, "\(error?.description ?? "")")
    }

    @Test func neverShowsThePassword() throws {
        let configuration = try PostgresConfiguration("postgres://app:hunter2@localhost/db")
        #expect(!configuration.description.contains("hunter2"))
        let bad = #expect(throws: PostgresError.self) {
            try PostgresConfiguration("postgres://app:hun%zzter2@localhost:x/db")
        }
        #expect(bad?.description.contains("hun") == false)
    }
}
