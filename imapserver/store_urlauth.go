package imapserver

import (
	"context"

	"github.com/yubinmail/yubin/core/imapurl"
	"github.com/yubinmail/yubin/mailstore/urlresolve"
)

func (a *storeAccount) resolver() *urlresolve.Resolver { return urlresolve.New(a.store) }

func (a *storeAccount) FetchURL(ctx context.Context, u *imapurl.URL, max int64) ([]byte, error) {
	return a.resolver().Fetch(a.key.Context(ctx), u, imapurl.Requester{User: a.user.Address}, max)
}

func (a *storeAccount) GenURLAuth(ctx context.Context, u *imapurl.URL) (string, error) {
	return a.resolver().Sign(ctx, a.user.ID, a.user.Address, u)
}

func (a *storeAccount) ResetURLAuthKeys(ctx context.Context, mailbox string) error {
	return a.resolver().ResetKeys(ctx, a.user.ID, mailbox)
}
