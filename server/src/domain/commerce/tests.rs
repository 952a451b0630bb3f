//! Unit tests of the commerce rules.

use super::*;
use crate::domain::{CreatorId, Money, OrderId, Product, ProductId, Timestamp};
use chrono::Duration;
use uuid::Uuid;

fn t(s: i64) -> Timestamp {
    chrono::DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
}

fn product(stock: i64) -> Product {
    Product {
        id: ProductId(Uuid::from_u128(1)),
        creator_id: CreatorId(Uuid::from_u128(2)),
        sku: "S".into(),
        title: "Mug".into(),
        description: None,
        image_url: None,
        price: Money::price(2000, "USD").unwrap(),
        stock,
        created_at: t(0),
        updated_at: t(0),
    }
}

fn deal_pin(p: &Product) -> Pin {
    let deal = DealTerms {
        price: 1500,
        quantity: 10,
        per_buyer_limit: 2,
        duration_s: 60,
    }
    .into_deal(p, t(0))
    .unwrap();
    Pin {
        product_id: p.id,
        pinned_at: t(0),
        deal: Some(deal),
    }
}

#[test]
fn a_failed_order_gives_back_the_lines_it_was_placed_from() {
    let mug = product(50);
    let cup = Product {
        id: ProductId(Uuid::from_u128(9)),
        ..product(50)
    };
    let pin = deal_pin(&mug);
    let line = |product: &Product, quantity, deal| OrderLine {
        product_id: product.id,
        title: product.title.clone(),
        quantity,
        unit_price: product.price,
        deal,
    };
    let order = Order {
        id: OrderId(Uuid::from_u128(5)),
        show_id: crate::domain::ShowId(Uuid::from_u128(6)),
        viewer_id: crate::domain::ViewerId(Uuid::from_u128(7)),
        buyer_name: "Kim".into(),
        status: OrderStatus::Failed,
        items: vec![line(&mug, 2, true), line(&cup, 1, false)],
        total: mug.price,
        created_at: t(1),
        reserved_until: t(121),
        paid_at: None,
        failure: None,
        email: None,
        shipping: None,
        payment: None,
        refunded_at: None,
        channel: Default::default(),
    };
    let deal_end = pin.deal.as_ref().map(|d| d.ends_at);
    let lines = cart_lines_of(&order, std::slice::from_ref(&pin));
    assert_eq!(
        lines,
        CartLines::from([
            (
                mug.id,
                CartLine {
                    quantity: 2,
                    deal_ends_at: deal_end
                }
            ),
            (
                cup.id,
                CartLine {
                    quantity: 1,
                    deal_ends_at: None
                }
            ),
        ])
    );
    // Unpinned since: still a deal line, so it is never sold at the regular price unasked.
    assert!(cart_lines_of(&order, &[])[&mug.id].deal_ends_at.is_some());
    // What the buyer added since stays.
    let mut cart = CartLines::from([(
        cup.id,
        CartLine {
            quantity: 4,
            deal_ends_at: None,
        },
    )]);
    give_back(&mut cart, &lines);
    assert_eq!(cart[&cup.id].quantity, 4);
    assert_eq!(cart[&mug.id].quantity, 2);
    // A full cart takes nothing more.
    let mut full: CartLines = (0..MAX_CART_ITEMS as u128)
        .map(|n| {
            (
                ProductId(Uuid::from_u128(100 + n)),
                CartLine {
                    quantity: 1,
                    deal_ends_at: None,
                },
            )
        })
        .collect();
    give_back(&mut full, &lines);
    assert_eq!(full.len(), MAX_CART_ITEMS);
    assert!(!full.contains_key(&mug.id));
}

#[test]
fn an_address_shares_the_deal_allowance_of_its_buyers() {
    assert_eq!(address_key("192.0.2.7".parse().unwrap()), "a:192.0.2.7");
    assert_eq!(
        address_key("::ffff:192.0.2.7".parse().unwrap()),
        "a:192.0.2.7"
    );
    // Every address of one /64 is one key.
    assert_eq!(
        address_key("2001:db8:1:2:aaaa::1".parse().unwrap()),
        address_key("2001:db8:1:2:ffff::9".parse().unwrap())
    );
    assert_eq!(
        address_key("2001:db8:1:2::1".parse().unwrap()),
        "a:2001:db8:1:2::/64"
    );
    assert_ne!(
        address_key("2001:db8:1:2::1".parse().unwrap()),
        address_key("2001:db8:1:3::1".parse().unwrap())
    );
    let mug = product(50);
    let pin = deal_pin(&mug); // 2 per buyer
    let line = |quantity, deal| OrderLine {
        product_id: mug.id,
        title: "Mug".into(),
        quantity,
        unit_price: mug.price,
        deal,
    };
    let pins = std::slice::from_ref(&pin);
    assert!(check_address_allowance(&[line(2, true)], pins, |_| 0, 1).is_ok());
    assert_eq!(
        check_address_allowance(&[line(1, true)], pins, |_| 2, 1)
            .unwrap_err()
            .code,
        "over_limit"
    );
    assert!(check_address_allowance(&[line(2, true)], pins, |_| 2, 2).is_ok());
    // Off, and lines at the regular price, are not held to it.
    assert!(check_address_allowance(&[line(5, true)], pins, |_| 9, 0).is_ok());
    assert!(check_address_allowance(&[line(5, false)], pins, |_| 9, 1).is_ok());
}

#[test]
fn the_deal_price_applies_only_while_open() {
    let p = product(50);
    let pin = deal_pin(&p);
    let open = DealState { remaining: 10 };
    assert_eq!(
        price_in_effect(&p, Some(&pin), open, t(1)),
        (Money::price(1500, "USD").unwrap(), true)
    );
    assert!(!price_in_effect(&p, Some(&pin), open, t(60)).1, "ended");
    assert!(
        !price_in_effect(&p, Some(&pin), DealState { remaining: 0 }, t(1)).1,
        "sold out"
    );
    assert!(!price_in_effect(&p, None, open, t(1)).1);
}

#[test]
fn deal_terms_are_validated() {
    let p = product(5);
    let ok = DealTerms {
        price: 100,
        quantity: 5,
        per_buyer_limit: 1,
        duration_s: 30,
    };
    assert!(ok.clone().into_deal(&p, t(0)).is_ok());
    for bad in [
        DealTerms {
            price: -1,
            ..ok.clone()
        },
        DealTerms {
            quantity: 0,
            ..ok.clone()
        },
        DealTerms {
            per_buyer_limit: 6,
            ..ok.clone()
        },
        DealTerms {
            per_buyer_limit: 0,
            ..ok.clone()
        },
        DealTerms {
            duration_s: 1,
            ..ok.clone()
        },
        DealTerms {
            price: 2000,
            ..ok.clone()
        },
    ] {
        assert!(bad.into_deal(&p, t(0)).is_err());
    }
    let d = ok.into_deal(&p, t(0)).unwrap();
    assert_eq!(d.ends_at - d.starts_at, Duration::seconds(30));
    assert_eq!(d.price.currency, p.price.currency);
}

#[test]
fn pins_are_limited_and_from_the_lineup() {
    let lineup: Vec<ProductId> = (1..=4).map(|i| ProductId(Uuid::from_u128(i))).collect();
    let pin = |i: usize| Pin {
        product_id: lineup[i],
        pinned_at: t(0),
        deal: None,
    };
    let mut pins = Vec::new();
    for i in 0..3 {
        pins = add_pin(&pins, pin(i), &lineup).unwrap();
    }
    assert_eq!(
        add_pin(&pins, pin(3), &lineup).unwrap_err().code,
        "too_many_pins"
    );
    // Re-pinning a pinned product replaces it.
    assert_eq!(add_pin(&pins, pin(1), &lineup).unwrap().len(), 3);
    let stranger = Pin {
        product_id: ProductId(Uuid::from_u128(99)),
        pinned_at: t(0),
        deal: None,
    };
    assert_eq!(
        add_pin(&[], stranger, &lineup).unwrap_err().code,
        "not_in_lineup"
    );
}

#[test]
fn cart_lines_respect_stock_and_the_per_buyer_limit() {
    let p = product(3);
    let pin = deal_pin(&p);
    let facts = LineFacts {
        product: &p,
        pin: Some(&pin),
        deal: DealState { remaining: 10 },
        bought_in_deal: 1,
    };
    assert_eq!(
        check_cart_line(&facts, 1, t(1)).unwrap().deal_ends_at,
        Some(t(60))
    );
    assert_eq!(
        check_cart_line(&facts, 2, t(1)).unwrap_err().code,
        "over_limit"
    );
    let no_deal = LineFacts {
        pin: None,
        ..facts.clone()
    };
    assert_eq!(
        check_cart_line(&no_deal, 4, t(1)).unwrap_err().code,
        "insufficient_stock"
    );
    assert_eq!(
        check_cart_line(&no_deal, 0, t(1)).unwrap_err().code,
        "invalid_quantity"
    );
    assert_eq!(
        check_cart_line(&no_deal, -2, t(1)).unwrap_err().code,
        "invalid_quantity"
    );
}

#[test]
fn checkout_refuses_what_the_buyer_did_not_see() {
    let p = product(100);
    let pin = deal_pin(&p);
    let facts = LineFacts {
        product: &p,
        pin: Some(&pin),
        deal: DealState { remaining: 10 },
        bought_in_deal: 0,
    };
    let line = check_cart_line(&facts, 2, t(1)).unwrap();
    let (items, total) = plan_checkout(&[(line, facts.clone())], t(2)).unwrap();
    assert_eq!(total, Money::price(3000, "USD").unwrap());
    assert!(items[0].deal);
    assert_eq!(
        plan_checkout(&[(line, facts.clone())], t(61))
            .unwrap_err()
            .code,
        "deal_ended"
    );
    let gone = LineFacts {
        deal: DealState { remaining: 1 },
        ..facts.clone()
    };
    assert_eq!(
        plan_checkout(&[(line, gone)], t(2)).unwrap_err().code,
        "sold_out"
    );
    let sold = LineFacts {
        deal: DealState { remaining: 0 },
        ..facts.clone()
    };
    assert_eq!(
        plan_checkout(&[(line, sold)], t(2)).unwrap_err().code,
        "sold_out"
    );
    assert_eq!(plan_checkout(&[], t(2)).unwrap_err().code, "empty_cart");
    let plain = CartLine {
        quantity: 1,
        deal_ends_at: None,
    };
    let p2 = product(0);
    let out = LineFacts {
        product: &p2,
        pin: None,
        deal: DealState::default(),
        bought_in_deal: 0,
    };
    assert_eq!(
        plan_checkout(&[(plain, out)], t(2)).unwrap_err().code,
        "sold_out"
    );
}

#[test]
fn live_and_scheduled_shows_sell_live_ended_ones_from_the_replay_cancelled_ones_not() {
    use crate::domain::{Code, ShowStatus};
    assert_eq!(
        SalesChannel::of(ShowStatus::Scheduled).unwrap(),
        SalesChannel::Live
    );
    assert_eq!(
        SalesChannel::of(ShowStatus::Live).unwrap(),
        SalesChannel::Live
    );
    assert_eq!(
        SalesChannel::of(ShowStatus::Ended).unwrap(),
        SalesChannel::Replay
    );
    let refused = SalesChannel::of(ShowStatus::Cancelled).unwrap_err();
    assert_eq!(refused.code, Code::ShowCancelled);
    // Orders stored before channels existed read as live.
    let json = r#""live""#;
    assert_eq!(
        serde_json::from_str::<SalesChannel>(json).unwrap(),
        SalesChannel::Live
    );
    assert_eq!(
        serde_json::to_string(&SalesChannel::Replay).unwrap(),
        r#""replay""#
    );
}
