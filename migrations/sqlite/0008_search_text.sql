-- What the token API's and the console's search (`?q=`) matches, lower-cased: the seller's
-- nick, account and every id it can be looked up by. Kept beside the pair so that a search
-- runs in the database instead of loading every seller.
ALTER TABLE tokens ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE tokens SET search_text = lower(
    coalesce(json_extract(identity, '$.user_nick'), '') || ' ' ||
    coalesce(json_extract(identity, '$.account'), '') || ' ' ||
    coalesce((SELECT group_concat(seller_key, ' ') FROM token_sellers
              WHERE token_sellers.token_id = tokens.id), ''));
