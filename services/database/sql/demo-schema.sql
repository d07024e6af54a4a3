-- A small, realistic shop schema for local runs and tests: customers place orders of products.
CREATE TABLE customers (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email text NOT NULL UNIQUE,
  name text NOT NULL,
  country char(2) NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE customers IS 'People who have an account in the shop.';
COMMENT ON COLUMN customers.country IS 'ISO 3166-1 alpha-2 country code.';

CREATE TABLE products (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sku text NOT NULL UNIQUE,
  title text NOT NULL,
  price_cents integer NOT NULL CHECK (price_cents >= 0)
);
COMMENT ON TABLE products IS 'Items for sale; prices are in euro cents.';

CREATE TABLE orders (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES customers (id),
  status text NOT NULL DEFAULT 'placed' CHECK (status IN ('placed', 'paid', 'shipped', 'cancelled')),
  placed_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE orders IS 'One checkout by one customer.';
CREATE INDEX orders_customer_id_idx ON orders (customer_id);

CREATE TABLE order_items (
  order_id bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
  product_id bigint NOT NULL REFERENCES products (id),
  quantity integer NOT NULL CHECK (quantity > 0),
  PRIMARY KEY (order_id, product_id)
);
COMMENT ON TABLE order_items IS 'The products in an order and how many of each.';

INSERT INTO customers (email, name, country)
SELECT format('customer%s@example.com', n), format('Customer %s', n), (ARRAY['DE', 'FR', 'NL', 'US', 'GB'])[1 + n % 5]
FROM generate_series(1, 200) AS n;

INSERT INTO products (sku, title, price_cents)
SELECT format('SKU-%s', lpad(n::text, 4, '0')), format('Product %s', n), 100 + (n * 37) % 9900
FROM generate_series(1, 50) AS n;

INSERT INTO orders (customer_id, status, placed_at)
SELECT 1 + n % 200, (ARRAY['placed', 'paid', 'shipped', 'cancelled'])[1 + n % 4], now() - make_interval(hours => n)
FROM generate_series(1, 2000) AS n;

INSERT INTO order_items (order_id, product_id, quantity)
SELECT o.id, 1 + (o.id * 7 + k) % 50, 1 + (o.id + k) % 3
FROM orders o CROSS JOIN generate_series(0, 2) AS k;

ANALYZE;
