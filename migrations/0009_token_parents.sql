-- Token revocation cascades (issue 26, item 8): each scoped token records the token that minted
-- it, so revoking a token revokes its descendants and authentication refuses a token any of
-- whose ancestors is revoked or expired (src/access/token.rs `check_chain`).
--
-- parent_id: the minting token's id; NULL for tokens minted by the root API_TOKEN. No FOREIGN KEY:
-- a parent id that names no row is refused by the chain check (fail closed), and token rows are
-- never deleted.
ALTER TABLE api_tokens ADD COLUMN parent_id TEXT;

-- Tokens minted before this migration: `created_by` has always been the minting principal
-- (`root` or a token id, src/api/tokens.rs), so their chain is recovered from it rather than
-- left empty. Consequence: a token minted by a token that was already revoked or expired before
-- this migration stops authenticating once it is applied (it would have died with its parent
-- had the cascade existed then).
UPDATE api_tokens SET parent_id = created_by WHERE created_by <> 'root';

-- The cascade walks parent -> children.
CREATE INDEX api_tokens_by_parent ON api_tokens (parent_id);
