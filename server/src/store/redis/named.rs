//! Scripts that name their keys and arguments: [`script_params!`] declares a script's keys or
//! arguments as a struct with named fields, and [`named_script`] turns the same names into the
//! table the script starts with (`k.cart`, `a.viewer`, …), so Rust and Lua agree by
//! construction and no script body counts positions. What follows the named keys and arguments
//! (declared products, event ids) is found through `#key_names` and `#arg_names`.

use redis::Script;

use super::PRELUDE;

/// Declares a struct of a script's keys or arguments: its fields in one order, appended to a
/// command by `push`, and their names (`NAMES`) for the Lua table.
macro_rules! script_params {
    ($(#[$m:meta])* struct $name:ident$(<$lt:lifetime>)? {
        $($(#[$fm:meta])* $field:ident: $ty:ty),+ $(,)?
    }) => {
        $(#[$m])*
        pub(super) struct $name$(<$lt>)? {
            $($(#[$fm])* pub(super) $field: $ty,)+
        }
        impl$(<$lt>)? $name$(<$lt>)? {
            pub(super) const NAMES: &'static [&'static str] = &[$(stringify!($field)),+];
            pub(super) fn push(&self, cmd: &mut redis::Cmd) {
                $(cmd.arg(&self.$field);)+
            }
        }
    };
}
pub(super) use script_params;

/// A script that starts with the commerce [`PRELUDE`] and then names its keys and arguments:
/// `k.<name>` is `KEYS[i]` and `a.<name>` is `ARGV[i]` for the i-th of `keys` and `args`.
pub(super) fn named_script(keys: &[&str], args: &[&str], body: &str) -> Script {
    Script::new(&format!("{PRELUDE}{}", named(keys, args, body)))
}

/// [`named_script`] without the prelude, for scripts that need none of its helpers.
pub(super) fn named_plain_script(keys: &[&str], args: &[&str], body: &str) -> Script {
    Script::new(&named(keys, args, body))
}

/// `body` after the lines that build `k` and `a`.
fn named(keys: &[&str], args: &[&str], body: &str) -> String {
    let list = |names: &[&str]| {
        let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
        quoted.join(", ")
    };
    format!(
        "
local key_names = {{{}}}
local arg_names = {{{}}}
local k, a = {{}}, {{}}
for i, name in ipairs(key_names) do k[name] = KEYS[i] end
for i, name in ipairs(arg_names) do a[name] = ARGV[i] end
{body}",
        list(keys),
        list(args)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    script_params! {
        /// Fields of several kinds, to see them pushed in their declared order.
        struct Sample<'a> {
            first: &'a str,
            count: usize,
            owned: String,
            last: i64,
        }
    }

    #[test]
    fn push_follows_the_names() {
        let sample = Sample {
            first: "x",
            count: 3,
            owned: "y".into(),
            last: -4,
        };
        let mut cmd = redis::cmd("EVALSHA");
        sample.push(&mut cmd);
        let args: Vec<&[u8]> = cmd
            .args_iter()
            .map(|arg| match arg {
                redis::Arg::Simple(bytes) => bytes,
                _ => panic!("only simple arguments"),
            })
            .collect();
        assert_eq!(args, [&b"EVALSHA"[..], b"x", b"3", b"y", b"-4"]);
        assert_eq!(Sample::NAMES, ["first", "count", "owned", "last"]);
    }

    #[test]
    fn the_table_names_each_position() {
        let body = named(&["cart", "orders"], &["viewer"], "return k.orders");
        assert!(body.contains("local key_names = {'cart', 'orders'}\n"));
        assert!(body.contains("local arg_names = {'viewer'}\n"));
        assert!(body.ends_with("\nreturn k.orders"));
    }
}
